"""Audited schedule changes: one path for the dashboard, the API and code (docs/schedules.md).

Each action checks the actor's role, finds the schedule within the actor's scope (another
tenant's schedule is ``ScheduleNotFound``, exactly like an id nobody has), acts and
audits (``audit.record``, action ``schedule.<verb>``) in one transaction. Roles: pause,
resume, trigger and backfill need the operator role, as does creating one (like
spawning); editing and deleting need admin, and a schedule declared in code
(``code_owned``) cannot be deleted, only paused.

Every change that makes a schedule due at another time updates ``due_at``; the table's
trigger (absurd_core/sql/schedules.sql) NOTIFYs the workers' tickers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from absurd_core.actors import Action, Actor
from absurd_core.audit import record
from absurd_core.errors import AbsurdError, InvalidArgument
from absurd_core.models import Schedule
from absurd_core.queries.schedules import ScheduleNotFound, find_schedule
from absurd_core.registry import registry
from absurd_core.schedule_firing import (
    RESERVED_PREFIX,
    db_now,
    due_at,
    recurrence,
    spawn_slot,
)
from absurd_core.schedule_times import Recurrence, slot_key

MAX_NAME = 200
DEFAULT_CATCH_UP_CAP = 100
MAX_CATCH_UP_CAP = 1000
MAX_JITTER_SECONDS = 3600


class InvalidSchedule(InvalidArgument):
    """A field of a schedule is not valid; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class UnknownTask(AbsurdError, LookupError):
    """No spawnable task of that name (internal tasks are answered alike)."""


class ScheduleExists(AbsurdError, ValueError):
    """The tenant has a schedule of that name already."""


class CodeOwned(AbsurdError, ValueError):
    """A schedule declared in code cannot be deleted (pause it)."""


class BackfillTooLarge(AbsurdError, ValueError):
    """A backfill range holds more slots than the schedule's cap."""


__all__ = [
    "BackfillTooLarge",
    "CodeOwned",
    "InvalidSchedule",
    "ScheduleExists",
    "ScheduleNotFound",
    "UnknownTask",
    "backfill",
    "create_schedule",
    "delete_schedule",
    "pause_schedule",
    "resume_schedule",
    "trigger_schedule",
    "update_schedule",
]

EDITABLE = (
    "task_name",
    "params",
    "headers",
    "cron",
    "every_seconds",
    "timezone",
    "catch_up",
    "catch_up_cap",
    "jitter_seconds",
)


def validated(fields: dict[str, Any]) -> dict[str, Any]:
    """The schedule fields checked and normalised; InvalidSchedule / UnknownTask otherwise."""
    out = dict(fields)
    name = out.get("name")
    if "name" in out and (
        not isinstance(name, str) or not name or len(name) > MAX_NAME or "\x00" in name
    ):
        raise InvalidSchedule("name", f"name must be 1 to {MAX_NAME} characters.")
    if "task_name" in out:
        spec = registry.spawnable(out["task_name"]) if isinstance(out["task_name"], str) else None
        if spec is None:
            raise UnknownTask(f"No task named {out['task_name']!r} is registered.")
        queue = out.get("queue")
        if queue is not None and queue != spec.queue:
            # The task and its queue name one thing: there is no such task on that queue.
            raise UnknownTask(f"No task named {spec.name!r} on queue {queue!r}.")
        out["queue"] = spec.queue
    headers = out.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise InvalidSchedule("headers", "headers must be an object.")
        reserved = [k for k in headers if k == "tenant" or k.startswith(RESERVED_PREFIX)]
        if reserved:
            raise InvalidSchedule(
                "headers", f"headers {sorted(reserved)} are set by the server, not by clients."
            )
    if out.get("catch_up") is not None and out["catch_up"] not in ("skip", "all"):
        raise InvalidSchedule("catch_up", "catch_up must be 'skip' or 'all'.")
    cap = out.get("catch_up_cap")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CATCH_UP_CAP
    ):
        raise InvalidSchedule("catch_up_cap", f"catch_up_cap must be 1 to {MAX_CATCH_UP_CAP}.")
    jitter = out.get("jitter_seconds")
    if jitter is not None and (
        isinstance(jitter, bool)
        or not isinstance(jitter, int)
        or not 0 <= jitter <= MAX_JITTER_SECONDS
    ):
        raise InvalidSchedule(
            "jitter_seconds", f"jitter_seconds must be 0 to {MAX_JITTER_SECONDS}."
        )
    return out


def _check_recurrence(cron, every_seconds, timezone) -> Recurrence:
    try:
        return Recurrence(cron=cron, every_seconds=every_seconds, timezone=timezone or "UTC")
    except InvalidArgument as exc:
        raise InvalidSchedule(getattr(exc, "field", "cron"), str(exc)) from None


def create_schedule(
    actor: Actor,
    *,
    name: str,
    task: str,
    cron: str | None = None,
    every_seconds: int | None = None,
    params: Any = None,
    headers: dict | None = None,
    timezone: str = "UTC",
    catch_up: str = "skip",
    catch_up_cap: int = DEFAULT_CATCH_UP_CAP,
    jitter_seconds: int = 0,
    queue: str | None = None,
    enabled: bool = True,
    detail: dict | None = None,
) -> Schedule:
    """A new schedule of the actor's tenant, due at its first slot after now."""
    actor.require(Action.OPERATE)
    tenant = actor.scope.slug
    if not tenant:
        raise InvalidArgument("Schedules belong to one tenant: act through a tenant.")
    fields = validated(
        {
            "name": name,
            "task_name": task,
            "queue": queue,
            "params": params,
            "headers": headers or {},
            "catch_up": catch_up,
            "catch_up_cap": catch_up_cap,
            "jitter_seconds": jitter_seconds,
        }
    )
    rule = _check_recurrence(cron, every_seconds, timezone)
    with transaction.atomic():
        now = db_now()
        schedule = Schedule(
            tenant=tenant,
            **fields,
            cron=rule.cron,
            every_seconds=rule.every_seconds,
            timezone=rule.timezone,
            enabled=enabled,
        )
        first = recurrence(schedule).next_after(now)
        schedule.next_fire_at, schedule.due_at = first, due_at(schedule, first)
        try:
            with transaction.atomic():
                schedule.save()
        except IntegrityError:
            raise ScheduleExists(f"A schedule named {name!r} exists already.") from None
        _audit(actor, "create", schedule, detail)
    return schedule


def _locked(actor: Actor, schedule_id: int, action: Action) -> Schedule:
    actor.require(action)
    found = find_schedule(actor.scope, schedule_id)
    return Schedule.objects.select_for_update().get(id=found.id)


def _audit(actor: Actor, verb: str, schedule: Schedule, detail: dict | None, **extra) -> None:
    record(
        actor,
        f"schedule.{verb}",
        queue=schedule.queue,
        tenant=schedule.tenant,
        detail={**(detail or {}), "schedule": schedule.id, "name": schedule.name, **extra},
    )


def pause_schedule(actor: Actor, schedule_id: int, *, detail: dict | None = None) -> Schedule:
    with transaction.atomic():
        schedule = _locked(actor, schedule_id, Action.OPERATE)
        if schedule.enabled:
            schedule.enabled = False
            schedule.save(update_fields=["enabled"])
            _audit(actor, "pause", schedule, detail)
    return schedule


def resume_schedule(actor: Actor, schedule_id: int, *, detail: dict | None = None) -> Schedule:
    """Enabled again, due at its first slot after now: what was missed while paused is not
    fired (use backfill for that)."""
    with transaction.atomic():
        schedule = _locked(actor, schedule_id, Action.OPERATE)
        if not schedule.enabled:
            now = db_now()
            schedule.enabled = True
            schedule.next_fire_at = recurrence(schedule).next_after(now)
            schedule.due_at = due_at(schedule, schedule.next_fire_at)
            schedule.save(update_fields=["enabled", "next_fire_at", "due_at"])
            _audit(actor, "resume", schedule, detail)
    return schedule


def update_schedule(
    actor: Actor, schedule_id: int, changes: dict[str, Any], *, detail: dict | None = None
) -> Schedule:
    """Change a schedule's fields (admin); a new expression, interval or zone re-plans it
    from now."""
    unknown = set(changes) - set(EDITABLE) - {"queue"}
    if unknown:
        raise InvalidSchedule(sorted(unknown)[0], f"{sorted(unknown)[0]} cannot be changed.")
    fields = validated(changes)
    with transaction.atomic():
        schedule = _locked(actor, schedule_id, Action.ADMIN)
        if schedule.code_owned and set(fields) - {"queue"}:
            raise CodeOwned("A schedule declared in code is changed in code; pause it here.")
        for key, value in fields.items():
            setattr(schedule, key, value)
        if {"cron", "every_seconds"} & set(changes):
            # One of them replaces the other.
            if changes.get("cron") is not None:
                schedule.every_seconds = None
            elif changes.get("every_seconds") is not None:
                schedule.cron = None
        rule = _check_recurrence(schedule.cron, schedule.every_seconds, schedule.timezone)
        schedule.cron = rule.cron
        if {"cron", "every_seconds", "timezone", "jitter_seconds"} & set(changes):
            now = db_now()
            schedule.next_fire_at = recurrence(schedule).next_after(now)
            schedule.due_at = due_at(schedule, schedule.next_fire_at)
        schedule.save()
        _audit(actor, "update", schedule, detail, changed=sorted(changes))
    return schedule


def delete_schedule(actor: Actor, schedule_id: int, *, detail: dict | None = None) -> None:
    with transaction.atomic():
        schedule = _locked(actor, schedule_id, Action.ADMIN)
        if schedule.code_owned:
            raise CodeOwned("A schedule declared in code cannot be deleted; pause it instead.")
        _audit(actor, "delete", schedule, detail)
        schedule.delete()


def trigger_schedule(actor: Actor, schedule_id: int, *, detail: dict | None = None):
    """Spawn the schedule's task now, outside its recurrence (slot = now), recorded as its
    last fire; its next slot is unchanged. Returns (slot, the spawn's result); RateLimited
    when refused."""
    with transaction.atomic():
        schedule = _locked(actor, schedule_id, Action.OPERATE)
        now = db_now().replace(microsecond=0)
        result = spawn_slot(schedule, now, trigger="manual")
        # Shown as its last fire (the page links the task); its next slot is unchanged.
        schedule.last_fire_at, schedule.last_task_id = now, result.task_id
        schedule.save(update_fields=["last_fire_at", "last_task_id"])
        _audit(actor, "trigger", schedule, detail, slot=slot_key(now), task_id=str(result.task_id))
    return now, result


def backfill(
    actor: Actor,
    schedule_id: int,
    start: datetime,
    end: datetime,
    *,
    detail: dict | None = None,
) -> list:
    """Spawn every slot in ``[start, end]`` once (a slot that already fired is not spawned
    again: same key). Refused (BackfillTooLarge, nothing spawned) over the schedule's
    ``catch_up_cap``; all or nothing when the spawn gate refuses one."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidSchedule("start", "start and end need a time zone offset.")
    with transaction.atomic():
        schedule = _locked(actor, schedule_id, Action.OPERATE)
        rule = recurrence(schedule)
        slots = []
        try:
            for slot in rule.between(start, end):
                slots.append(slot)
                if len(slots) > schedule.catch_up_cap:
                    raise BackfillTooLarge(
                        f"The range holds more than {schedule.catch_up_cap} slots (the "
                        "schedule's cap); backfill a shorter range."
                    )
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, AbsurdError):
                raise
            raise BackfillTooLarge("The range reaches past the dates we can compute.") from None
        results = [(slot, spawn_slot(schedule, slot, trigger="backfill")) for slot in slots]
        _audit(
            actor,
            "backfill",
            schedule,
            detail,
            start=start.isoformat(),
            end=end.isoformat(),
            slots=len(slots),
            spawned=sum(1 for _, r in results if r.created),
        )
    return results
