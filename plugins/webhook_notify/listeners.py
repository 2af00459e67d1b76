"""Dead letters as webhooks: a lifecycle listener on the task event log.

A task that fails terminally (no attempts left) leaves one event-log row of
kind ``failed`` (task state ``failed``), written in the same transaction as
its dead letter (absurd_core/sql/lifecycle.sql); a failed attempt that
will be retried is ``retry_scheduled`` and is not reported. Listeners are fed
at least once, so the delivery task is spawned with an idempotency key made
from the event id: a repeat finds the existing task and sends nothing more.
"""

from __future__ import annotations

import logging

from absurd_core import DeadLetter, LifecycleEvent
from plugins.webhook_notify import conf, payloads
from plugins.webhook_notify.delivery import QUEUE, spawn_delivery

logger = logging.getLogger("plugins.webhook_notify")


def dead_letters(event: LifecycleEvent) -> None:
    if event.kind != "failed" or event.task_id is None:
        return
    if event.queue == QUEUE:
        # A delivery that ran out of attempts: reporting it by webhook would fail the same
        # way and dead-letter again, without end. It is on the dashboard like any other.
        return
    config = conf.configured()
    if config is None:
        return
    dead = _dead_letter_of(event)
    if dead is None:
        logger.info(
            "webhook_notify: no dead letter for failed task %s in queue %s (queue dropped?)",
            event.task_id,
            event.queue,
        )
        return
    tenant = config.tenant or event.tenant or dead.tenant
    if not tenant:
        logger.warning(
            "webhook_notify: dead letter %s has no tenant; set WEBHOOK_NOTIFY_TENANT "
            "to report dead letters of tasks spawned without one.",
            dead.pk,
        )
        return
    delivery_id = f"{payloads.DEAD_LETTER_CREATED}:{event.id}"
    spawn_delivery(payloads.dead_letter(dead, event, delivery_id=delivery_id), tenant=tenant)


def _dead_letter_of(event: LifecycleEvent) -> DeadLetter | None:
    """The dead letter written with this event: the task's first one from its time on."""
    rows = DeadLetter.objects.filter(queue=event.queue, task_id=event.task_id)
    return (
        rows.filter(failed_at__gte=event.created_at).order_by("id").first()
        or rows.order_by("-id").first()
    )
