"""The durable task that sends approval links and reminders (approvals/delivery.py)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from absurd_core import task
from approvals.delivery import send_link
from approvals.models import ApprovalRequest

QUEUE = "approvals"


@task(
    "approvals.deliver",
    queue=QUEUE,
    max_attempts=8,
    retry={"kind": "exponential", "base_seconds": 2, "factor": 2, "max_seconds": 300},
)
def deliver(params, ctx):
    request = ApprovalRequest.objects.get(pk=params["request_id"])
    token_ids = list(request.tokens.values_list("pk", flat=True))
    for token_id in token_ids:
        ctx.step(f"send:{token_id}", lambda token_id=token_id: send_link(token_id, "request"))
    # Reminders, each once: settings.APPROVAL_REMINDERS lists seconds before expiry.
    for before in sorted(getattr(settings, "APPROVAL_REMINDERS", ()), reverse=True):
        at = request.expires_at - timedelta(seconds=before)
        if at <= request.created_at:
            continue  # the request is shorter than this reminder's lead time
        ctx.sleep_until(f"reminder-wait:{before}", at)
        for token_id in token_ids:
            ctx.step(
                f"remind:{before}:{token_id}",
                lambda token_id=token_id: send_link(token_id, "reminder"),
            )
    return {"tokens": len(token_ids)}
