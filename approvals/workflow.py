"""``request_approval``: what a task calls to wait for a human decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from absurd_sdk import TimeoutError as WaitTimedOut

from approvals import decisions
from approvals.models import ApprovalRequest
from approvals.requests import create_request


@dataclass(frozen=True)
class Decision:
    request_id: int
    #: "approved", "rejected", "expired" or "cancelled".
    outcome: str
    #: Whether the workflow should go ahead: approved, or expired with reject_on_expiry=False.
    approved: bool
    decided_by: list[str] = field(default_factory=list)
    decided_at: str | None = None
    #: Every answer given: approver, decision, comment, at, via.
    answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def comments(self) -> list[str]:
        return [a["comment"] for a in self.answers if a.get("comment")]


def request_approval(
    ctx,
    title: str,
    description: str = "",
    *,
    approvers: list[str],
    policy: str | dict = "any",
    expires_in: timedelta | int | float = timedelta(days=3),
    context: dict[str, Any] | None = None,
    reject_on_expiry: bool = True,
    requester: str = "",
) -> Decision:
    """Ask ``approvers`` and wait (durably, holding no worker thread) for the decision.

    The request, its tokens and its delivery are created in a checkpointed step,
    so only once however often the task runs. The wait is on the request's
    ``event_name`` (``approval:<random>:<task id>``, unguessable and bound to this
    task), emitted in the transaction that settles it. It goes through the
    context's system path: ``ctx.await_event`` would look in the tenant's namespace.
    """
    if not isinstance(expires_in, timedelta):
        expires_in = timedelta(seconds=float(expires_in))
    handle = ctx.begin_step("approval-request")
    if handle.done:
        request_id = handle.state
    else:
        request = create_request(
            tenant=ctx.tenant or "",
            queue=ctx.queue,
            task_id=ctx.task_id,
            run_id=ctx.run_id,
            task_name=ctx.task_name,
            step_key=handle.checkpoint_name,
            title=title,
            description=description,
            approvers=approvers,
            policy=policy,
            expires_in=expires_in,
            context=context,
            reject_on_expiry=reject_on_expiry,
            requester=requester,
        )
        request_id = ctx.complete_step(handle, request.pk)
    # The name recorded on this task's own request (old requests: approval:<id>).
    event_name = ApprovalRequest.objects.values_list("event_name", flat=True).get(
        pk=request_id, queue=ctx.queue, task_id=ctx.task_id
    )
    try:
        payload = ctx._await_system_event(
            event_name, timeout=max(1, int(expires_in.total_seconds()))
        )
    except WaitTimedOut:
        payload = ctx.step("approval-expired", lambda: decisions.expire(request_id))
    outcome = payload["outcome"]
    approved = outcome == "approved" or (outcome == "expired" and not reject_on_expiry)
    return Decision(
        request_id=request_id,
        outcome=outcome,
        approved=approved,
        decided_by=list(payload.get("decided_by") or []),
        decided_at=payload.get("decided_at"),
        answers=list(payload.get("answers") or []),
    )
