"""The durable task that sends approval links and reminders (approvals/delivery.py).

It is internal: only create_request spawns it, in the transaction that creates the
request. Its params name a request by id, so it also checks that the request is
its own tenant's: a task spawned any other way (raw SQL, absurdctl) with another
tenant's id fails before it rotates a token, sends a link or writes an audit row.
"""

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
    internal=True,
)
def deliver(params, ctx):
    request = own_request(params, ctx.tenant)
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


class NotThisTenants(LookupError):
    """The params name an approval request that is not the task's tenant's (or none)."""


def own_request(params, tenant: str | None) -> ApprovalRequest:
    """The request ``params["request_id"]`` names, if it is ``tenant``'s; else raise.

    Another tenant's request and a missing one fail alike, and nothing is read of it.
    """
    request_id = params.get("request_id") if isinstance(params, dict) else None
    request = None
    if tenant and isinstance(request_id, int) and not isinstance(request_id, bool):
        request = ApprovalRequest.objects.filter(pk=request_id, tenant=tenant).first()
    if request is None:
        raise NotThisTenants(f"No approval request {request_id!r} of tenant {tenant!r}.")
    return request
