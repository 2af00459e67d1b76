"""Approval requests and reminders as webhooks: one per approver and per send.

By default the decision link is left out and the webhook goes through the
durable task ``webhook_notify.deliver`` (spawned with an idempotency key, so
a re-run of the approval step does not send it twice).

With WEBHOOK_NOTIFY_INCLUDE_LINKS the link is included. The link is a
credential: whoever holds it decides as that approver, and Absurd Control
only ever stores its hash. A delivery task would have to keep it in its
params, readable in the database, the dashboard and the API for as long as
the task is kept. So a webhook with a link is POSTed at once, from the
``approvals.deliver`` step that made the link, and never stored; if the
receiver fails, that step fails, and ``approvals.deliver``'s retry (with its
backoff) sends a fresh link (docs/notifiers.md).
"""

from __future__ import annotations

from approvals.notifiers import ApprovalMessage, ApprovalToken, Notifier
from plugins.webhook_notify import conf, payloads
from plugins.webhook_notify.delivery import post, spawn_delivery


class WebhookNotifier(Notifier):
    name = "webhook"

    def send(self, message: ApprovalMessage) -> None:
        config = conf.configured()
        if config is None:
            return
        request = message.request
        if message.kind == "reminder":
            kind = payloads.APPROVAL_REMINDER
            # The reminder's number: the count of this approver's reminders sent so far,
            # plus one. A re-run of the same reminder step sees the same count.
            sent = (
                ApprovalToken.objects.filter(request=request, approver=message.approver)
                .values_list("reminders_sent", flat=True)
                .first()
            )
            reminder = (sent or 0) + 1
            delivery_id = f"{kind}:{request.pk}:{message.approver}:{reminder}"
        else:
            kind, reminder = payloads.APPROVAL_REQUESTED, None
            delivery_id = f"{kind}:{request.pk}:{message.approver}"
        if config.include_links:
            payload = payloads.approval(
                request,
                message.approver,
                kind=kind,
                delivery_id=delivery_id,
                reminder=reminder,
                link=message.link,
            )
            post(payload, config)  # raises: the approval step fails and is retried
            return
        payload = payloads.approval(
            request, message.approver, kind=kind, delivery_id=delivery_id, reminder=reminder
        )
        spawn_delivery(payload, tenant=config.tenant or request.tenant)
