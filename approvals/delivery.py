"""Sending approval links and reminders (the task approvals.deliver, in tasks.py).

Spawned in the transaction that creates the request, so it runs after that
commits. Each approver's link is sent in a checkpointed step: sent once, and a
failure (the mail server down) fails the attempt, which Absurd retries with
backoff; approvers already notified are not notified again. The error is kept
on the approver's token, where the dashboard shows it.

The link's secret exists only in memory while the message is built: the token
row gets its hash. A retry or a reminder therefore sends a fresh link, and the
previous one stops working.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalToken
from approvals.notifiers import ApprovalMessage, notifiers
from approvals.requests import audit
from approvals.tokens import new_token

#: Who the audit trail names for what delivery does: the task that does it, never nobody.
DELIVERY_ACTOR = "task:approvals.deliver"


def link_for(raw: str) -> str:
    return settings.BASE_URL + reverse("approvals:decide", args=[raw])


def send_link(token_id: int, kind: str) -> bool:
    """Give the token a fresh secret and send it; False when there is nothing to send."""
    with transaction.atomic():
        token = (
            ApprovalToken.objects.select_for_update()
            .select_related("request")
            .filter(pk=token_id)
            .first()
        )
        if (
            token is None
            or token.used_at
            or token.revoked_at
            or token.request.state != ApprovalRequest.State.PENDING
        ):
            return False
        raw, digest = new_token()
        token.token_hash = digest
        token.notify_attempts = F("notify_attempts") + 1
        token.save(update_fields=["token_hash", "notify_attempts"])
    message = ApprovalMessage(token.request, token.approver, link_for(raw), kind)
    try:
        for notifier in notifiers():
            notifier.send(message)
    except Exception as exc:
        ApprovalToken.objects.filter(pk=token_id).update(
            notify_error=f"{type(exc).__name__}: {exc}"
        )
        audit(
            token.request,
            "notify_failed",
            DELIVERY_ACTOR,
            approver=token.approver,
            error=str(exc)[:500],
        )
        raise
    updates = {"notified_at": timezone.now(), "notify_error": ""}
    if kind == "reminder":
        updates["reminders_sent"] = F("reminders_sent") + 1
    ApprovalToken.objects.filter(pk=token_id).update(**updates)
    audit(
        token.request,
        "notified" if kind == "request" else "reminded",
        DELIVERY_ACTOR,
        approver=token.approver,
    )
    return True
