"""Webhook bodies: one JSON object with a ``type``, the facts, a time and a Slack ``text``.

``id`` is the delivery's idempotency key: the same for every retry of one
webhook, so receivers can drop repeats. ``text`` is one line, escaped for
Slack's mrkdwn (``&``, ``<``, ``>``), so the URL of a Slack incoming webhook
works as WEBHOOK_NOTIFY_URL as is; Slack ignores the other fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from absurd_core import DeadLetter, LifecycleEvent
from approvals.notifiers import ApprovalRequest

APPROVAL_REQUESTED = "approval.requested"
APPROVAL_REMINDER = "approval.reminder"
DEAD_LETTER_CREATED = "dead_letter.created"

#: At most this many characters of an error message go into ``text``.
TEXT_ERROR_CHARS = 300


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def one_line(value: str, limit: int | None = None) -> str:
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def slack_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def approval(
    request: ApprovalRequest,
    approver: str,
    *,
    kind: str,
    delivery_id: str,
    reminder: int | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """``approval.requested`` or ``approval.reminder`` for one approver."""
    policy = f"quorum {request.quorum}" if request.policy == "quorum" else request.policy
    requested_by = request.requester or request.task_name
    expires = request.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    prefix = "Reminder: approval" if kind == APPROVAL_REMINDER else "Approval"
    text = (
        f"{prefix} needed: {one_line(request.title)} (requested by {one_line(requested_by)};"
        f" approver {approver}; policy {policy}; expires {expires};"
        f" request {request.pk}, tenant {request.tenant})"
    )
    body: dict[str, Any] = {
        "type": kind,
        "id": delivery_id,
        "timestamp": iso(datetime.now(UTC)),
        "tenant": request.tenant,
        "approver": approver,
        "approval": {
            "id": request.pk,
            "title": request.title,
            "description": request.description,
            "requester": request.requester,
            "task_name": request.task_name,
            "queue": request.queue,
            "task_id": str(request.task_id),
            "policy": request.policy,
            "quorum": request.quorum,
            "state": request.state,
            "context": request.context,
            "created_at": iso(request.created_at),
            "expires_at": iso(request.expires_at),
        },
    }
    if reminder is not None:
        body["reminder"] = reminder
    if link is not None:
        body["link"] = link
        body["text"] = slack_escape(text) + f" <{link}|Decide>"
    else:
        body["text"] = slack_escape(text)
    return body


def dead_letter(dead: DeadLetter, event: LifecycleEvent, *, delivery_id: str) -> dict[str, Any]:
    """``dead_letter.created``: a task failed terminally and waits for an operator."""
    error = ": ".join(part for part in (dead.error_name, dead.error_message) if part)
    attempts = f"{dead.attempts} attempt" + ("" if dead.attempts == 1 else "s")
    text = (
        f"Dead letter: {dead.task_name} failed after {attempts}"
        f"{' - ' + one_line(error, TEXT_ERROR_CHARS) if error else ''}"
        f" (queue {dead.queue}, tenant {dead.tenant or '-'}, task {dead.task_id},"
        f" dead letter {dead.pk})"
    )
    return {
        "type": DEAD_LETTER_CREATED,
        "id": delivery_id,
        "timestamp": iso(dead.failed_at),
        "tenant": dead.tenant,
        "event_id": event.id,
        "dead_letter": {
            "id": dead.pk,
            "queue": dead.queue,
            "task_id": str(dead.task_id),
            "task_name": dead.task_name,
            "run_id": str(event.run_id) if event.run_id else None,
            "error_name": dead.error_name,
            "error_message": dead.error_message,
            "attempts": dead.attempts,
            "failed_at": iso(dead.failed_at),
            "state": dead.state,
        },
        "text": slack_escape(text),
    }
