"""Recurring schedules over the JSON API (docs/schedules.md, docs/api.md#schedules).

Every operation goes through absurd_core.actions.schedules (the dashboard's path too) and
absurd_core.queries.schedules, scoped to the key's tenant: another tenant's schedule is
a 404 like an id nobody has. Reading needs the viewer role (scope tasks:read); creating,
pausing, resuming, triggering and backfilling the operator role (tasks:write); updating
and deleting the admin role (tasks:write).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import Field as PydanticField

from absurd_core.actions import schedules as actions
from absurd_core.errors import AbsurdError, QueueNotFound, RateLimited
from absurd_core.models import Schedule
from absurd_core.queries.schedules import (
    ScheduleNotFound,
    find_schedule,
    list_schedules,
    task_states,
    upcoming,
)
from absurd_core.schedule_times import CRON_PATTERN, zone_names
from config.api.input import IsoDateTime, StrictBody, json_int
from config.api.problems import Problem
from tenants.api_auth import api_principal
from tenants.permissions import Action

router = Router(tags=["schedules"])
#: A body date-time: RFC 3339 text (bodies are strict, so read from text explicitly).
BodyDateTime = Annotated[IsoDateTime, PydanticField(strict=False)]
VIA_API = {"via": "api"}


#: Header names the server stamps: a client may not send them.
HEADER_NAMES = {"propertyNames": {"pattern": r"^(?!tenant$)(?!absurd_control\.)[^\u0000]*$"}}
ZONES = {"enum": zone_names()}
CRON = Field(
    None,
    max_length=200,
    pattern=CRON_PATTERN,
    description="Five fields (minute hour day-of-month month day-of-week: numbers, `*`, "
    "ranges, lists, steps), or @hourly, @daily, @weekly, @monthly, @yearly.",
    examples=["0 3 * * *"],
)
EVERY = Field(None, description="A fixed interval, aligned to the Unix epoch (UTC).")


class ScheduleIn(StrictBody):
    """Exactly one of `cron` and `every_seconds`."""

    model_config = {
        **StrictBody.model_config,
        "json_schema_extra": {"oneOf": [{"required": ["cron"]}, {"required": ["every_seconds"]}]},
    }

    name: str = Field(..., min_length=1, max_length=200, examples=["nightly-report"])
    task: str = Field(..., min_length=1, max_length=4000, examples=["demo.two_steps"])
    cron: str = CRON
    every_seconds: json_int(1, 366 * 86400) = EVERY
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict, json_schema_extra=HEADER_NAMES)
    timezone: str = Field("UTC", description="An IANA zone, for cron.", json_schema_extra=ZONES)
    catch_up: Literal["skip", "all"] = Field(
        "skip", description="skip: only the latest missed slot; all: each, up to catch_up_cap."
    )
    catch_up_cap: json_int(1, 1000) = 100
    jitter_seconds: json_int(0, 3600) = 0
    queue: str = Field(
        None, max_length=57, description="The task's queue (404 for another: no such task there)."
    )


class ScheduleUpdateIn(StrictBody):
    """Only the fields given change; at most one of `cron` and `every_seconds`."""

    model_config = {
        **StrictBody.model_config,
        "json_schema_extra": {"not": {"required": ["cron", "every_seconds"]}},
    }

    task: str = Field(None, min_length=1, max_length=4000)
    cron: str = CRON
    every_seconds: json_int(1, 366 * 86400) = EVERY
    params: dict[str, Any] = None
    headers: dict[str, Any] = Field(None, json_schema_extra=HEADER_NAMES)
    timezone: str = Field(None, json_schema_extra=ZONES)
    catch_up: Literal["skip", "all"] = None
    catch_up_cap: json_int(1, 1000) = None
    jitter_seconds: json_int(0, 3600) = None


class BackfillIn(StrictBody):
    start: BodyDateTime = Field(..., description="First moment of the range (RFC 3339).")
    end: BodyDateTime = Field(
        ..., description="Last moment of the range, inclusive; before start: no slot."
    )


class ScheduleOut(Schema):
    id: int
    name: str
    task: str
    queue: str
    cron: str | None
    every_seconds: int | None
    timezone: str
    params: Any = None
    headers: dict[str, Any]
    catch_up: str
    catch_up_cap: int
    jitter_seconds: int
    enabled: bool
    code_owned: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_task_id: UUID | None
    last_task_state: str | None = None
    last_error: str | None
    fires: int
    refusals: int


class ScheduleDetailOut(ScheduleOut):
    upcoming: list[datetime] = Field(..., description="The next 5 fire times.")


class SpawnedOut(Schema):
    task_id: UUID
    slot: datetime
    created: bool


class BackfillOut(Schema):
    spawned: list[SpawnedOut]


def _out(schedule: Schedule, states: dict | None = None) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "name": schedule.name,
        "task": schedule.task_name,
        "queue": schedule.queue,
        "cron": schedule.cron,
        "every_seconds": schedule.every_seconds,
        "timezone": schedule.timezone,
        "params": schedule.params,
        "headers": schedule.headers or {},
        "catch_up": schedule.catch_up,
        "catch_up_cap": schedule.catch_up_cap,
        "jitter_seconds": schedule.jitter_seconds,
        "enabled": schedule.enabled,
        "code_owned": schedule.code_owned,
        "next_fire_at": schedule.next_fire_at,
        "last_fire_at": schedule.last_fire_at,
        "last_task_id": schedule.last_task_id,
        "last_task_state": (states or {}).get(schedule.last_task_id),
        "last_error": schedule.last_error,
        "fires": schedule.fires,
        "refusals": schedule.refusals,
    }


def _detail(schedule: Schedule) -> dict[str, Any]:
    return {
        **_out(schedule, task_states([schedule])),
        "upcoming": upcoming(schedule, 5) if schedule.enabled else [],
    }


def _invalid(exc: actions.InvalidSchedule) -> ValidationError:
    field = "task" if exc.field == "task_name" else exc.field
    return ValidationError(
        [{"loc": ("body", "body", field), "msg": str(exc), "type": "value_error"}]
    )


def _not_found(schedule_id) -> HttpError:
    return HttpError(404, "No such schedule.")


def _rate_limited(exc: RateLimited) -> HttpError:
    error = HttpError(429, str(exc))
    error.retry_after = max(1, math.ceil(exc.retry_after))
    return error


@router.post(
    "/schedules",
    response={201: ScheduleDetailOut, 403: Problem, 404: Problem, 409: Problem, 422: Problem},
    summary="Create a schedule",
    description="A recurring spawn of `task` for your tenant: `cron` (in `timezone`) or "
    "`every_seconds`. 422 names the field for an invalid expression, interval or time zone; "
    "404 for a task name nobody registered; 409 for a name your tenant uses already. "
    "Needs the operator role (scope tasks:write).",
)
def create_schedule(request, body: ScheduleIn):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    try:
        schedule = actions.create_schedule(
            principal,
            name=body.name,
            task=body.task,
            cron=body.cron,
            every_seconds=body.every_seconds,
            params=body.params,
            headers=body.headers,
            timezone=body.timezone,
            catch_up=body.catch_up,
            catch_up_cap=body.catch_up_cap,
            jitter_seconds=body.jitter_seconds,
            queue=body.queue,
            detail=VIA_API,
        )
    except actions.UnknownTask as exc:
        raise HttpError(404, str(exc)) from None
    except actions.InvalidSchedule as exc:
        raise _invalid(exc) from None
    except actions.ScheduleExists as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201, _detail(schedule))


@router.get(
    "/schedules",
    response={200: list[ScheduleOut]},
    summary="List your tenant's schedules",
    description="With the state of the task each last spawned. Needs the viewer role.",
)
def list_all(request):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    schedules = list_schedules(principal.scope)
    states = task_states(schedules)
    return [_out(s, states) for s in schedules]


@router.get(
    "/schedules/{schedule_id}",
    response={200: ScheduleDetailOut, 404: Problem},
    summary="Get a schedule, with its next 5 fire times",
)
def get_schedule(request, schedule_id: int):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    try:
        return _detail(find_schedule(principal.scope, schedule_id))
    except ScheduleNotFound:
        raise _not_found(schedule_id) from None


@router.patch(
    "/schedules/{schedule_id}",
    response={200: ScheduleDetailOut, 403: Problem, 404: Problem, 409: Problem, 422: Problem},
    summary="Change a schedule",
    description="Only the fields given change; a new cron, interval or zone re-plans the "
    "next fire from now (`cron` replaces `every_seconds` and the other way round). 409 for a "
    "schedule declared in code (change it in code). Needs the admin role.",
)
def update_schedule(request, body: ScheduleUpdateIn, schedule_id: int):
    principal = api_principal(request, Action.ADMIN, "tasks:write")
    changes = body.model_dump(exclude_unset=True)
    if "task" in changes:
        changes["task_name"] = changes.pop("task")
    changes = {k: v for k, v in changes.items() if v is not None or k in ("params",)}
    try:
        schedule = actions.update_schedule(principal, schedule_id, changes, detail=VIA_API)
    except ScheduleNotFound:
        raise _not_found(schedule_id) from None
    except actions.InvalidSchedule as exc:
        raise _invalid(exc) from None
    except actions.UnknownTask as exc:
        raise HttpError(404, str(exc)) from None
    except actions.CodeOwned as exc:
        raise HttpError(409, str(exc)) from None
    return _detail(schedule)


def _toggle(request, schedule_id, action):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    try:
        return _detail(action(principal, schedule_id, detail=VIA_API))
    except ScheduleNotFound:
        raise _not_found(schedule_id) from None


@router.post(
    "/schedules/{schedule_id}/pause",
    response={200: ScheduleDetailOut, 403: Problem, 404: Problem},
    summary="Pause a schedule (nothing fires until it is resumed)",
)
def pause_schedule(request, schedule_id: int):
    return _toggle(request, schedule_id, actions.pause_schedule)


@router.post(
    "/schedules/{schedule_id}/resume",
    response={200: ScheduleDetailOut, 403: Problem, 404: Problem},
    summary="Resume a schedule from its next slot after now",
    description="Slots missed while paused are not fired; backfill them if they should be.",
)
def resume_schedule(request, schedule_id: int):
    return _toggle(request, schedule_id, actions.resume_schedule)


@router.post(
    "/schedules/{schedule_id}/trigger",
    response={201: SpawnedOut, 403: Problem, 404: Problem, 409: Problem, 429: Problem},
    summary="Spawn the schedule's task now",
    description="Outside the recurrence: the next fire time does not change. 429 when the "
    "tenant is over its spawn rate (nothing spawned).",
)
def trigger_schedule(request, schedule_id: int):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    try:
        slot, result = actions.trigger_schedule(principal, schedule_id, detail=VIA_API)
    except ScheduleNotFound:
        raise _not_found(schedule_id) from None
    except RateLimited as exc:
        raise _rate_limited(exc) from None
    except QueueNotFound as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201, {"task_id": result.task_id, "slot": slot, "created": result.created})


@router.post(
    "/schedules/{schedule_id}/backfill",
    response={
        200: BackfillOut,
        403: Problem,
        404: Problem,
        409: Problem,
        422: Problem,
        429: Problem,
    },
    summary="Spawn every slot of a past range",
    description="Each slot in [start, end] once: a slot that already fired is not spawned "
    "again (`created` false). 409 when the range holds more slots than the schedule's "
    "`catch_up_cap` (nothing spawned); 429 when the spawn rate refuses one (nothing spawned).",
)
def backfill_schedule(request, body: BackfillIn, schedule_id: int):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    try:
        done = actions.backfill(principal, schedule_id, body.start, body.end, detail=VIA_API)
    except ScheduleNotFound:
        raise _not_found(schedule_id) from None
    except actions.InvalidSchedule as exc:
        raise _invalid(exc) from None
    except actions.BackfillTooLarge as exc:
        raise HttpError(409, str(exc)) from None
    except RateLimited as exc:
        raise _rate_limited(exc) from None
    except AbsurdError as exc:
        raise HttpError(409, str(exc)) from None
    return {
        "spawned": [{"task_id": r.task_id, "slot": slot, "created": r.created} for slot, r in done]
    }


@router.delete(
    "/schedules/{schedule_id}",
    response={204: None, 403: Problem, 404: Problem, 409: Problem},
    summary="Delete a schedule",
    description="Tasks it spawned stay. 409 for a schedule declared in code (pause it). "
    "Needs the admin role.",
)
def delete_schedule(request, schedule_id: int):
    principal = api_principal(request, Action.ADMIN, "tasks:write")
    try:
        actions.delete_schedule(principal, schedule_id, detail=VIA_API)
    except ScheduleNotFound:
        raise _not_found(schedule_id) from None
    except actions.CodeOwned as exc:
        raise HttpError(409, str(exc)) from None
    return Status(204, None)
