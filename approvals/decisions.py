"""Deciding approval requests: exactly once, in one transaction, by any path.

``decide`` (a link's POST, or an API key acting for an approver) locks the
request row, then the token row, checks both, records the answer, evaluates the
policy and, when the request is settled, emits the request's recorded
``event_name`` (``approval:<random>:<task id>``; ``approval:<id>`` for requests made
before issue 14) through ``absurd.emit_event`` in the same transaction.
Concurrent POSTs of one token, or two approvers at once, serialise on the
request row: one decision, one event. ``cancel`` and ``expire`` settle a request the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from absurd_core import engine
from approvals import policy as policies
from approvals.models import ApprovalRequest, ApprovalToken
from approvals.requests import audit
from approvals.tokens import hash_token, looks_valid

#: The answer an approver gives, and the outcome it stands for.
ANSWER_OUTCOME = {"approve": "approved", "reject": "rejected"}


class DecisionRefused(Exception):
    """The link or request cannot take a decision; ``reason`` says why, for the page."""

    def __init__(self, reason: str, message: str, request: ApprovalRequest | None = None):
        self.reason = reason
        self.request = request
        super().__init__(message)


@dataclass(frozen=True)
class DecisionResult:
    request: ApprovalRequest
    token: ApprovalToken
    #: True when this answer settled the request (and the event was emitted).
    settled: bool


def find_token(raw: str) -> ApprovalToken:
    if not looks_valid(raw):
        raise DecisionRefused("invalid", "This approval link is not valid.")
    try:
        return ApprovalToken.objects.select_related("request").get(token_hash=hash_token(raw))
    except ApprovalToken.DoesNotExist:
        raise DecisionRefused("invalid", "This approval link is not valid.") from None


def refusal_for(token: ApprovalToken, request: ApprovalRequest) -> DecisionRefused | None:
    """Why this token cannot decide now, or None."""
    if token.used_at:
        return DecisionRefused(
            "used",
            f"This link was already used: {token.approver} chose to {token.decision}"
            f" on {token.used_at:%Y-%m-%d %H:%M} UTC.",
            request,
        )
    if request.state != ApprovalRequest.State.PENDING:
        who = request.decided_by
        # The terminal hook records why ("the workflow was completed"), not who.
        by = (f" because {who}" if who.startswith("the workflow") else f" by {who}") if who else ""
        when = f" on {request.decided_at:%Y-%m-%d %H:%M} UTC" if request.decided_at else ""
        return DecisionRefused(
            request.state, f"This request was already {request.state}{by}{when}.", request
        )
    if token.revoked_at:
        reason = token.revoked_reason or "revoked"
        return DecisionRefused("revoked", f"This link is no longer valid: {reason}.", request)
    if token.expires_at <= timezone.now():
        return DecisionRefused(
            "expired", f"This link expired on {token.expires_at:%Y-%m-%d %H:%M} UTC.", request
        )
    return None


def decide(
    token_id: int,
    decision: str,
    *,
    comment: str = "",
    ip: str | None = None,
    user_agent: str = "",
    via: str = "",
) -> DecisionResult:
    if decision not in ApprovalToken.Decision.values:
        raise DecisionRefused("invalid", 'The decision must be "approve" or "reject".')
    with transaction.atomic():
        request_id = ApprovalToken.objects.values_list("request_id", flat=True).get(pk=token_id)
        request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
        token = ApprovalToken.objects.select_for_update().get(pk=token_id)
        refusal = refusal_for(token, request)
        if refusal is not None:
            raise refusal
        now = timezone.now()
        token.used_at = now
        token.decision = decision
        token.comment = comment[:2000]
        token.ip = ip
        token.user_agent = user_agent[:500]
        token.decided_via = via or token.approver
        token.save()
        audit(
            request,
            "answered",
            token.decided_via,
            approver=token.approver,
            decision=decision,
            comment=comment,
        )
        answers = list(request.tokens.exclude(decision="").values_list("decision", flat=True))
        result = policies.outcome(
            request.policy,
            request.quorum,
            request.tokens.count(),
            answers.count("approve"),
            answers.count("reject"),
        )
        if result is None:
            return DecisionResult(request, token, False)
        _settle(request, result, now)
        return DecisionResult(request, token, True)


def decision_payload(request: ApprovalRequest, outcome: str) -> dict:
    answers = [
        {
            "approver": t.approver,
            "decision": t.decision,
            "comment": t.comment,
            "at": t.used_at.isoformat() if t.used_at else None,
            "via": t.decided_via,
        }
        for t in request.tokens.exclude(decision="").order_by("used_at")
    ]
    deciders = [a["approver"] for a in answers if ANSWER_OUTCOME[a["decision"]] == outcome]
    return {
        "request_id": request.pk,
        "outcome": outcome,
        "decided_by": deciders,
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
        "answers": answers,
    }


def _settle(request: ApprovalRequest, outcome: str, now, actor: str | None = None) -> None:
    """Mark the request settled, revoke its unused tokens and wake the workflow."""
    request.state = outcome
    request.decided_at = now
    payload = decision_payload(request, outcome)
    request.decided_by = actor or ", ".join(payload["decided_by"])
    payload["decided_by_label"] = request.decided_by
    request.decision = payload
    request.save(update_fields=["state", "decided_at", "decided_by", "decision"])
    request.tokens.filter(used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason=f"the request was {outcome}"
    )
    audit(request, outcome, request.decided_by)
    if outcome != ApprovalRequest.State.EXPIRED:
        # The workflow is waiting on this event; in this transaction, so a decision
        # is never recorded without waking it, nor the other way round.
        engine.emit_event(request.queue, request.event_name, payload)


def cancel(request_id: int, actor: str) -> bool:
    """Cancel an open request (an operator); the workflow receives outcome "cancelled".

    Returns False when it was already settled.
    """
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
        if request.state != ApprovalRequest.State.PENDING:
            return False
        _settle(request, ApprovalRequest.State.CANCELLED, timezone.now(), actor)
        return True


def expire(request_id: int) -> dict:
    """Called by the workflow when its wait timed out: the decision it must act on.

    If an answer settled the request in the meantime, that decision stands.
    """
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
        if request.state == ApprovalRequest.State.PENDING:
            _settle(request, ApprovalRequest.State.EXPIRED, timezone.now(), "expiry")
        return request.decision
