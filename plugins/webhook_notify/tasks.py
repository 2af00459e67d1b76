"""``webhook_notify.deliver``: POST one webhook, retried with backoff until it is taken.

Internal: only the notifier and the listener spawn it (delivery.spawn_delivery).
Spawned by a client, it would POST a body of the client's choosing, signed with
the platform's secret, to the platform's receiver. Its params carry the whole
payload, built when it was spawned, and name no object to look up.
"""

from __future__ import annotations

from absurd_core import task
from plugins.webhook_notify import conf
from plugins.webhook_notify.delivery import MAX_ATTEMPTS, QUEUE, RETRY, TASK, post


@task(TASK, queue=QUEUE, max_attempts=MAX_ATTEMPTS, retry=RETRY, internal=True)
def deliver(params, ctx):
    config = conf.configured()
    if config is None:
        return {"sent": False, "reason": "WEBHOOK_NOTIFY_URL is not set"}
    return {"sent": True, "status": post(params["payload"], config)}
