"""Firing schedules: one slot is one spawn, exactly once (docs/schedules.md).

``tick()`` is what every runworker's ticker (absurd_core/worker/schedules.py) runs. In
one transaction it locks the due schedules (``enabled and due_at <= now``, with
``FOR UPDATE SKIP LOCKED``, so two workers never tick the same schedule at once and
neither waits for the other), spawns each due slot through ``absurd_core.spawn`` (the
one spawn path: tenant stamping, the spawn gate, idempotency) with the idempotency key
``schedule:<id>:<slot>``, and advances ``next_fire_at`` and ``due_at``. If the worker
dies mid-tick, the transaction rolls back: no spawn and no advance, and the next tick
(this worker's or another's) fires the same slots. If a spawn committed but the
schedule row somehow did not advance, the key makes the repeat a no-op.

"now" is the database clock, ``absurd.current_time()``, so tests move time with the
engine's ``absurd.fake_now`` setting instead of sleeping.

A spawn the tenant's gate refuses (its spawn rate) is not dropped: the schedule keeps
the slot as its next one, records the refusal (``refusals``, ``last_error``, shown on
the Schedules page) and is due again after the gate's ``retry_after``.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import F

from absurd_core.errors import AbsurdError, RateLimited, first_line
from absurd_core.models import Schedule
from absurd_core.schedule_times import Recurrence, slot_key
from absurd_core.spawning import spawn

logger = logging.getLogger("absurd_core.schedules")

#: Headers stamped on every task a schedule spawns (clients cannot set them).
SCHEDULE_HEADER = "absurd_control.schedule"
SLOT_HEADER = "absurd_control.slot"
TRIGGER_HEADER = "absurd_control.trigger"
RESERVED_PREFIX = "absurd_control."
#: Schedules locked per tick transaction; more due ones wait for the next tick.
TICK_BATCH = 100
#: A refused slot is tried again after the gate's retry_after, but at least this often.
REFUSED_RETRY_MAX_SECONDS = 60
#: After a spawn that failed for another reason than the rate (a dropped queue, say).
FAILURE_RETRY_SECONDS = 60

DUE_SQL = (
    "select id from absurd_control_schedule"
    " where enabled and due_at <= %s"
    " order by due_at, id limit %s for update skip locked"
)
NEXT_DUE_SQL = (
    "select extract(epoch from min(due_at) - absurd.current_time())"
    " from absurd_control_schedule where enabled"
)


def db_now(using: str = "default") -> datetime:
    with connections[using].cursor() as cursor:
        cursor.execute("select absurd.current_time()")
        return cursor.fetchone()[0]


def recurrence(schedule: Schedule) -> Recurrence:
    return Recurrence(
        cron=schedule.cron,
        every_seconds=schedule.every_seconds,
        timezone=schedule.timezone,
    )


def due_at(schedule: Schedule, slot: datetime) -> datetime:
    """When to tick for ``slot``: the slot, plus up to ``jitter_seconds`` at random."""
    if schedule.jitter_seconds:
        return slot + timedelta(seconds=random.uniform(0, schedule.jitter_seconds))  # noqa: S311
    return slot


def spawn_slot(schedule: Schedule, slot: datetime, *, trigger: str = "schedule", using="default"):
    """Spawn ``schedule``'s task for ``slot``: once per slot, whoever asks (the key)."""
    key = slot_key(slot)
    headers = {
        **(schedule.headers or {}),
        SCHEDULE_HEADER: str(schedule.id),
        SLOT_HEADER: key,
        TRIGGER_HEADER: trigger,
    }
    return spawn(
        schedule.task_name,
        schedule.params,
        tenant=schedule.tenant,
        queue=schedule.queue,
        headers=headers,
        idempotency_key=f"schedule:{schedule.id}:{key}",
        using=using,
    )


@dataclass
class TickResult:
    fired: int = 0
    refused: int = 0
    failed: int = 0
    #: Schedules ticked (locked and handled) in this tick.
    ticked: int = 0
    #: Task ids spawned, by (schedule id, slot key).
    spawned: dict = field(default_factory=dict)


def tick(*, using: str = "default", batch: int = TICK_BATCH) -> TickResult:
    """Fire every due schedule this transaction can lock (see the module docstring)."""
    result = TickResult()
    with transaction.atomic(using=using):
        now = db_now(using)
        with connections[using].cursor() as cursor:
            cursor.execute(DUE_SQL, [now, batch])
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return result
        for schedule in Schedule.objects.using(using).filter(id__in=ids).order_by("due_at", "id"):
            _fire_due(schedule, now, result, using)
            result.ticked += 1
    return result


def _fire_due(schedule: Schedule, now: datetime, result: TickResult, using: str) -> None:
    rule = recurrence(schedule)
    first = schedule.next_fire_at or rule.next_after(now)
    limit = schedule.catch_up_cap if schedule.catch_up == "all" else 1
    slots, _ = rule.due(first, now, max(1, limit))
    if schedule.last_error_at is not None and first <= now and first not in slots:
        # ``first`` is a slot a spawn was refused for: retried whatever the policy.
        slots.insert(0, first)
    skipped = 0
    if slots and slots[0] > first:
        # Slots missed while no worker ran, beyond the catch-up policy (counted up to a cap).
        skipped = _count_between(rule, first, slots[0], cap=10_000)
    fired = 0
    for slot in slots:
        try:
            spawned = spawn_slot(schedule, slot, using=using)
        except RateLimited as refused:
            retry = min(max(1.0, refused.retry_after), REFUSED_RETRY_MAX_SECONDS)
            _refused(schedule, slot, now, refused, retry, using, fired, skipped)
            result.refused += 1
            logger.warning(
                "schedule.refused schedule=%s slot=%s %s",
                schedule.id,
                slot_key(slot),
                first_line(refused),
            )
            return
        except AbsurdError as failed:
            _refused(schedule, slot, now, failed, FAILURE_RETRY_SECONDS, using, fired, skipped)
            result.failed += 1
            logger.warning(
                "schedule.spawn_failed schedule=%s slot=%s %s",
                schedule.id,
                slot_key(slot),
                first_line(failed),
            )
            return
        fired += 1
        result.fired += 1
        result.spawned[(schedule.id, slot_key(slot))] = spawned.task_id
        schedule.last_fire_at, schedule.last_task_id = slot, spawned.task_id
        logger.info(
            "schedule.fired schedule=%s slot=%s task_id=%s created=%s",
            schedule.id,
            slot_key(slot),
            spawned.task_id,
            spawned.created,
        )
    following = rule.next_after(max(now, slots[-1]) if slots else now)
    Schedule.objects.using(using).filter(id=schedule.id).update(
        next_fire_at=following,
        due_at=due_at(schedule, following),
        last_fire_at=schedule.last_fire_at,
        last_task_id=schedule.last_task_id,
        last_error=None,
        last_error_at=None,
        fires=F("fires") + fired,
        skipped=F("skipped") + skipped,
    )


def _count_between(rule: Recurrence, first: datetime, before: datetime, cap: int) -> int:
    count = 0
    for slot in rule.between(first, before):
        if slot >= before or count >= cap:
            break
        count += 1
    return count


def _refused(schedule, slot, now, error, retry_seconds: float, using, fired, skipped) -> None:
    """Keep ``slot`` as the next one and come back later; say why on the schedule."""
    Schedule.objects.using(using).filter(id=schedule.id).update(
        next_fire_at=slot,
        due_at=now + timedelta(seconds=retry_seconds),
        last_fire_at=schedule.last_fire_at,
        last_task_id=schedule.last_task_id,
        last_error=first_line(error),
        last_error_at=now,
        refusals=F("refusals") + (1 if isinstance(error, RateLimited) else 0),
        fires=F("fires") + fired,
        skipped=F("skipped") + skipped,
    )


def seconds_until_next_due(using: str = "default") -> float | None:
    """Seconds until the earliest enabled schedule is due (negative: overdue); None: none."""
    with connections[using].cursor() as cursor:
        cursor.execute(NEXT_DUE_SQL)
        value = cursor.fetchone()[0]
    return None if value is None else float(value)
