"""Schedules as a tenant sees them: the list, one schedule, the spawned task's state,
the next slots and late schedules (docs/schedules.md; the lag is the metrics plugin's).

Every read takes a scope: another tenant's schedule is ``ScheduleNotFound``, exactly
like an id nobody has.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.db import DatabaseError
from psycopg import sql

from absurd_core.engine import list_queues
from absurd_core.errors import AbsurdError
from absurd_core.models import Schedule, Worker
from absurd_core.read_routing import connections
from absurd_core.schedule_firing import SCHEDULE_HEADER, SLOT_HEADER, db_now, recurrence
from absurd_core.tenancy import TenantScope

#: A schedule this far past its due time, with workers alive, is late.
LATE_AFTER = timedelta(minutes=1)


class ScheduleNotFound(AbsurdError, LookupError):
    """No schedule of that id in this scope."""


def _id(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def find_schedule(scope: TenantScope, schedule_id, *, using: str = "default") -> Schedule:
    number = _id(schedule_id)
    found = (
        scope.restrict(Schedule.objects.using(using)).filter(id=number).first()
        if number is not None
        else None
    )
    if found is None:
        raise ScheduleNotFound(f"No schedule {schedule_id}.")
    return found


def list_schedules(scope: TenantScope, *, using: str = "default") -> list[Schedule]:
    return list(scope.restrict(Schedule.objects.using(using)).order_by("name", "id"))


def task_states(schedules: list[Schedule], *, using: str = "default") -> dict[UUID, str]:
    """The state of each schedule's last spawned task, by task id (tasks since removed by
    the engine's cleanup are absent)."""
    by_queue: dict[str, list[UUID]] = {}
    for schedule in schedules:
        if schedule.last_task_id:
            by_queue.setdefault(schedule.queue, []).append(schedule.last_task_id)
    if not by_queue:
        return {}
    existing = set(list_queues(using=using))
    states: dict[UUID, str] = {}
    with connections[using].cursor() as cursor:
        for queue, ids in by_queue.items():
            if queue not in existing:
                continue
            try:
                cursor.execute(
                    sql.SQL("select task_id, state from absurd.{} where task_id = any(%s)").format(
                        sql.Identifier(f"t_{queue}")
                    ),
                    [ids],
                )
            except DatabaseError:
                continue
            states.update(dict(cursor.fetchall()))
    return states


def upcoming(schedule: Schedule, count: int = 5, *, after: datetime | None = None):
    """The next ``count`` slots: its next slot first, then the following ones."""
    moment = after or db_now()
    rule = recurrence(schedule)
    first = schedule.next_fire_at or rule.next_after(moment)
    return [first, *rule.upcoming(first, count - 1)]


def late_schedules(scope: TenantScope, *, using: str = "default") -> list[Schedule]:
    """Enabled schedules due more than LATE_AFTER ago while a worker is alive (none are
    late when no worker runs: that is the workers' problem, shown on its own)."""
    if not Worker.objects.using(using).alive().exists():
        return []
    cutoff = db_now(using) - LATE_AFTER
    queryset = Schedule.objects.using(using).filter(enabled=True, due_at__lt=cutoff)
    return list(scope.restrict(queryset).order_by("due_at"))


def spawned_by(scope: TenantScope, headers) -> tuple[Schedule | None, str | None]:
    """For a task's headers: the schedule (in scope) that spawned it and the slot."""
    if not isinstance(headers, dict) or SCHEDULE_HEADER not in headers:
        return None, None
    try:
        schedule = find_schedule(scope, headers.get(SCHEDULE_HEADER))
    except ScheduleNotFound:
        schedule = None
    return schedule, headers.get(SLOT_HEADER)


def schedule_stats(*, using: str = "default") -> tuple[float, list[tuple[str, str, int, int]]]:
    """Platform counts for the metrics plugin: (lag in seconds: the database's now minus
    the oldest due ``due_at`` of an enabled schedule, 0 when none is due; (tenant, name,
    fires, refusals) per schedule). Cost: the partial index schedule_due for the lag, a
    scan of the schedules (few) for the counts."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "select coalesce(extract(epoch from absurd.current_time() - min(due_at)), 0)::float8"
            " from absurd_control_schedule"
            " where enabled and due_at <= (select absurd.current_time())"
        )
        lag = max(0.0, cursor.fetchone()[0])
        cursor.execute("select tenant, name, fires, refusals from absurd_control_schedule")
        return lag, cursor.fetchall()


__all__ = [
    "LATE_AFTER",
    "ScheduleNotFound",
    "find_schedule",
    "late_schedules",
    "list_schedules",
    "schedule_stats",
    "spawned_by",
    "task_states",
    "upcoming",
]
