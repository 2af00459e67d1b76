"""Approval policies: when a set of answers settles a request.

- ``any``: the first approval approves; a single rejection rejects.
- ``all``: every approver must approve; a single rejection rejects.
- ``quorum`` (n): n approvals approve; the request is rejected as soon as so
  many approvers have rejected that n approvals can no longer be reached.
"""

from __future__ import annotations


def required_approvals(policy: str, quorum: int, approvers: int) -> int:
    if policy == "any":
        return 1
    if policy == "all":
        return approvers
    return min(quorum, approvers)


def outcome(policy: str, quorum: int, approvers: int, approved: int, rejected: int) -> str | None:
    """ "approved", "rejected", or None while the request stays open."""
    needed = required_approvals(policy, quorum, approvers)
    if approved >= needed:
        return "approved"
    if policy in ("any", "all") and rejected:
        return "rejected"
    if approvers - rejected < needed:
        return "rejected"
    return None


def parse(policy: object, approvers: int) -> tuple[str, int]:
    """Validate a workflow's ``policy`` argument: "any", "all" or {"quorum": n}."""
    if policy in ("any", "all"):
        return str(policy), 1
    if isinstance(policy, dict) and set(policy) == {"quorum"}:
        n = policy["quorum"]
        if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= approvers:
            return "quorum", n
        raise ValueError(f"quorum must be a whole number between 1 and {approvers}, not {n!r}")
    raise ValueError(f'policy must be "any", "all" or {{"quorum": n}}, not {policy!r}')
