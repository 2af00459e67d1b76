"""Tasks over the JSON API: spawn, get, history, children, cancel, retry.

The tenant comes from the API key, never from the body. The tenant's spawn
rate applies: over it, 429 with ``Retry-After`` and nothing is spawned.
Spawning needs the operator role (scope tasks:write).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import field_validator

from absurd_core import audit, engine, spawn
from absurd_core.actions.tasks import cancel_if_unfinished
from absurd_core.children import PARENT, ROOT
from absurd_core.delayed_starts import MAX_START_DELAY
from absurd_core.engine import TaskState
from absurd_core.errors import (
    AbsurdError,
    InvalidArgument,
    QueueNotFound,
    RateLimited,
    TaskNotFound,
)
from absurd_core.queries import history
from absurd_core.queries.task_list import CURSOR_PATTERN, MAX_LIMIT, TaskFilter, list_tasks
from absurd_core.queries.tasks import find_task
from absurd_core.registry import registry
from config.api.input import IsoDateTime, StrictBody, json_int
from config.api.problems import Problem
from tenants.api_auth import api_principal
from tenants.permissions import Action

router = Router(tags=["tasks"])
_ONE_START = {"not": {"required": ["run_after", "delay_seconds"]}}
#: Audit detail of actions taken through the API (the dashboard's say "dashboard").
VIA_API = {"via": "api"}


class SpawnIn(StrictBody):
    # One delayed start or none: the schema says so, and _start() answers 422 naming the field.
    model_config = {**StrictBody.model_config, "json_schema_extra": _ONE_START}
    task: str = Field(
        ...,
        description="A registered task name (one run by our workers, or an external task "
        "declared for another worker).",
        # Documents the names registered when the API was built (the server still checks);
        # internal tasks are not for clients, and the public schema does not name them.
        json_schema_extra={"enum": sorted(spec.name for spec in registry if spec.spawnable)},
        examples=["demo.two_steps"],
    )
    params: dict[str, Any] = Field(default_factory=dict)
    max_attempts: json_int(1, 1000) | None = None
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    # Strict bodies take no datetime from text; IsoDateTime lets only RFC 3339 text through.
    run_after: IsoDateTime | None = Field(
        None,
        strict=False,
        description="A delayed start: the earliest time the task may start (RFC 3339, with a "
        "zone). A time in the past starts it now. Not with `delay_seconds`.",
        examples=["2026-12-31T09:00:00Z"],
    )
    delay_seconds: float | None = Field(
        None,
        ge=0,
        le=MAX_START_DELAY.total_seconds(),
        description="A delayed start: seconds from now (the server's clock). Not with `run_after`.",
        examples=[300],
    )

    @field_validator("run_after", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        # Lax mode (above) would read a number as a Unix timestamp.
        if value is not None and not isinstance(value, str):
            raise ValueError("Input should be an RFC 3339 date-time string with a zone")
        return value


def _start(body: SpawnIn) -> tuple[str | None, datetime | timedelta | None]:
    """The delayed start a body asks for, and the field that asked: one of the two only."""
    if body.run_after is not None and body.delay_seconds is not None:
        raise ValidationError(
            [
                {
                    "loc": ("body", "body", "delay_seconds"),
                    "msg": "Give run_after or delay_seconds, not both.",
                    "type": "excluded",
                }
            ]
        )
    if body.run_after is not None:
        return "run_after", body.run_after
    if body.delay_seconds is not None:
        return "delay_seconds", timedelta(seconds=body.delay_seconds)
    return None, None


class SpawnOut(Schema):
    task_id: str
    run_id: str | None
    queue: str
    created: bool


@router.post(
    "/tasks",
    response={
        200: SpawnOut,
        201: SpawnOut,
        403: Problem,
        404: Problem,
        409: Problem,
        422: Problem,
        429: Problem,
    },
    summary="Spawn a task",
    description="201 with the new task; 200 with the existing one when `idempotency_key` was "
    "used before. 404 for a task name nobody registered (internal tasks, which only the "
    "server spawns, are answered alike); 409 when the task's queue does not "
    "exist. 429 with `Retry-After` (seconds) when the tenant is over its spawn rate; "
    "nothing is spawned then. With `run_after` or `delay_seconds`, the task stays pending "
    "until its start time. Needs the operator role.",
)
def spawn_task(request, body: SpawnIn):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    start_field, run_after = _start(body)
    # An internal task gets the very answer an unknown name gets: nothing tells a client
    # that the name exists.
    spec = registry.spawnable(body.task)
    if spec is None:
        raise HttpError(404, f"No task named {body.task!r} is registered.")
    try:
        result = spawn(
            body.task,
            body.params,
            tenant=principal.scope.slug,
            max_attempts=body.max_attempts,
            idempotency_key=body.idempotency_key,
            run_after=run_after,
        )
    except InvalidArgument as exc:
        if start_field and str(exc).startswith("run_after"):
            # The start time the body asked for (too far off, or the task's max_delay).
            message = str(exc).replace("run_after", start_field, 1)
            raise ValidationError(
                [{"loc": ("body", "body", start_field), "msg": message, "type": "value_error"}]
            ) from None
        raise HttpError(422, str(exc)) from None
    except RateLimited as exc:
        error = HttpError(429, str(exc))
        error.retry_after = max(1, math.ceil(exc.retry_after))
        raise error from None
    except QueueNotFound:
        raise HttpError(
            409,
            f"Task {body.task!r} runs on queue {spec.queue!r}, which does not exist yet; "
            "an operator must create it.",
        ) from None
    except AbsurdError as exc:
        raise HttpError(422, str(exc)) from None
    return Status(
        201 if result.created else 200,
        {
            "task_id": str(result.task_id),
            "run_id": str(result.run_id) if result.run_id else None,
            "queue": spec.queue,
            "created": result.created,
        },
    )


class TaskListQuery(Schema):
    queue: list[str] = Field(default_factory=list, description="Only these queues (repeatable).")
    state: list[TaskState] = Field(
        default_factory=list,
        description="Only these states (repeatable): pending, running, sleeping, completed, "
        "failed, cancelled.",
    )
    # Any name the engine takes must be findable; 4000 is what fits gunicorn's request line.
    task: str | None = Field(None, description="Only tasks of this name.", max_length=4000)
    spawned_after: IsoDateTime | None = Field(
        None, description="Spawned at or after (RFC 3339, with a zone)."
    )
    spawned_before: IsoDateTime | None = Field(
        None, description="Spawned before (RFC 3339, with a zone)."
    )
    q: str = Field(
        "",
        max_length=500,
        description="Search terms, all of which must match: a task or run id; "
        "`params.<field>:<value>` or `headers.<field>:<value>` (`<field>:<value>` means "
        "params); anything else is an idempotency key.",
        examples=["customer:42"],
    )
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(
        None, pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."
    )


class TaskSummary(Schema):
    task_id: UUID
    queue: str
    task_name: str
    state: str
    attempts: int
    max_attempts: int | None
    enqueue_at: datetime
    first_started_at: datetime | None
    idempotency_key: str | None
    starts_at: datetime | None = Field(
        None, description="A pending task's delayed start, while it is ahead."
    )
    ended_at: datetime | None = Field(
        None, description="When a finished task ended (its last attempt's end); null until then."
    )


class TaskPageOut(Schema):
    items: list[TaskSummary]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next, older page; null on the last page."
    )


class TaskSearchPageOut(TaskPageOut):
    searched_back_to: datetime | None = Field(
        None,
        description="Set when a search on params or headers values stopped at its window "
        "(it reads a bounded number of tasks a page) before the page was full: the spawn time "
        "of the oldest task it read. The page may be short or empty; `next_cursor` searches "
        "older tasks.",
    )


class RunOut(Schema):
    run_id: UUID
    attempt: int
    state: str
    started_at: datetime | None
    completed_at: datetime | None = Field(
        None, description="When the attempt completed; null for a failed or cancelled one."
    )
    failed_at: datetime | None = Field(None, description="When the attempt failed, else null.")
    cancelled_at: datetime | None = Field(
        None, description="When the attempt was cancelled (the task's cancellation), else null."
    )
    ended_at: datetime | None = Field(
        None,
        description="When the attempt ended, whichever way (completed_at, failed_at or"
        " cancelled_at); null while it has not.",
    )
    failure: Any = None


class CheckpointOut(Schema):
    name: str
    updated_at: datetime


def _relative(obj, header: str) -> UUID | None:
    """A relationship header of a task (absurd_core/children.py), or None."""
    headers = getattr(obj, "headers", None)
    value = headers.get(header) if isinstance(headers, dict) else None
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


class TaskOut(Schema):
    task_id: UUID
    queue: str
    task_name: str
    state: str
    parent_task_id: UUID | None = Field(
        None, description="The task that started this one as a child; null for a top task."
    )
    root_task_id: UUID | None = Field(
        None, description="The top task of this one's tree; null for a top task."
    )
    params: Any = None
    headers: Any = None
    attempts: int
    max_attempts: int | None
    enqueue_at: datetime
    result: Any = None
    failure: Any = None
    runs: list[RunOut]
    checkpoints: list[CheckpointOut]
    wait: dict[str, Any] | None
    starts_at: datetime | None = Field(
        None, description="A pending task's delayed start, while it is ahead."
    )
    first_started_at: datetime | None = Field(
        None, description="When the task's first attempt started running."
    )
    cancelled_at: datetime | None = Field(None, description="When the task was cancelled.")
    ended_at: datetime | None = Field(
        None, description="When a finished task ended (its last attempt's end); null until then."
    )

    @staticmethod
    def resolve_parent_task_id(obj) -> UUID | None:
        return _relative(obj, PARENT)

    @staticmethod
    def resolve_root_task_id(obj) -> UUID | None:
        return _relative(obj, ROOT)


class HistoryRow(Schema):
    kind: str
    from_state: str | None
    to_state: str | None
    run_id: UUID | None
    attempt: int | None
    reason: str | None
    detail: Any = None
    created_at: datetime


class TaskRetryIn(StrictBody):
    max_attempts: json_int(1, 1000) | None = None
    spawn_new: bool = Field(False, description="Retry as a new task instead of in place.")


class TaskActionOut(Schema):
    task_id: UUID
    state: str


@router.get(
    "/tasks",
    response={200: TaskSearchPageOut, 404: Problem, 422: Problem},
    summary="List tasks, newest first",
    description="Filter by queue, state, task name, spawn time and search terms; pages by "
    "cursor (`next_cursor`), never by offset, so deep pages cost what the first does. "
    "404 for a queue that does not exist. Needs the viewer role (scope tasks:read).",
)
def list_task_page(request, filters: Query[TaskListQuery]):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    try:
        page = list_tasks(
            principal.scope,
            TaskFilter(
                queues=tuple(filters.queue),
                states=tuple(filters.state),
                task_name=filters.task,
                spawned_after=filters.spawned_after,
                spawned_before=filters.spawned_before,
                search=filters.q,
            ),
            cursor=filters.cursor,
            limit=filters.limit,
        )
    except QueueNotFound as exc:
        raise HttpError(404, str(exc)) from None
    except InvalidArgument as exc:
        raise HttpError(422, str(exc)) from None
    return {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "searched_back_to": page.window_edge,
    }


def _task(principal, task_id: UUID):
    try:
        return find_task(principal.scope, task_id)
    except TaskNotFound:
        raise HttpError(404, f"No task {task_id}.") from None


@router.get(
    "/tasks/{task_id}",
    response={200: TaskOut, 404: Problem},
    summary="Get a task",
    description="State, params, result or failure, every run, the checkpoints written (names "
    "and times) and the current wait. Needs the viewer role (scope tasks:read).",
)
def get_task(request, task_id: UUID):
    return _task(api_principal(request, Action.VIEW, "tasks:read"), task_id)


@router.get(
    "/tasks/{task_id}/history",
    response={200: list[HistoryRow], 404: Problem},
    summary="A task's transitions, oldest first (the event log)",
)
def task_history(request, task_id: UUID):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    task = _task(principal, task_id)
    return history.task_history(principal.scope, task.queue, task.task_id)


@router.post(
    "/tasks/{task_id}/cancel",
    response={200: TaskActionOut, 403: Problem, 404: Problem},
    summary="Cancel a task",
    description="A pending, sleeping or running task becomes cancelled; cancelling a task "
    "that already ended changes nothing. Needs the operator role (scope tasks:write).",
)
def cancel_task(request, task_id: UUID):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    try:
        # The dashboard's path too: a cancel that changed nothing is not audited.
        outcome = cancel_if_unfinished(principal, task_id, detail=VIA_API)
    except TaskNotFound:
        raise HttpError(404, f"No task {task_id}.") from None
    return {"task_id": outcome.task.task_id, "state": outcome.state}


@router.post(
    "/tasks/{task_id}/retry",
    response={200: TaskActionOut, 403: Problem, 404: Problem, 409: Problem},
    summary="Retry a failed task",
    description="In place (the same task id), or as a new task with `spawn_new`. 409 when the "
    "engine refuses: the task has not failed (Absurd does not retry cancelled or completed "
    "tasks), or max_attempts is not above its attempts. For a dead letter, prefer "
    "`POST /dead-letters/{id}/retry`, which also resolves it. "
    "Needs the operator role (scope tasks:write).",
)
def retry_task(request, task_id: UUID, body: TaskRetryIn):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    task = _task(principal, task_id)
    try:
        with transaction.atomic():
            result = engine.retry_task(
                task.queue, task.task_id, max_attempts=body.max_attempts, spawn_new=body.spawn_new
            )
            detail = {**VIA_API, "spawn_new": body.spawn_new, "new_task_id": str(result.task_id)}
            audit.record(principal, "retry", queue=task.queue, task_id=task.task_id, detail=detail)
    except AbsurdError as exc:
        raise HttpError(409, str(exc)) from None
    return {"task_id": result.task_id, "state": _task(principal, result.task_id).state}


class ChildrenQuery(Schema):
    state: list[TaskState] = Field(
        default_factory=list, description="Only children in these states (repeatable)."
    )
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(
        None, pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."
    )


@router.get(
    "/tasks/{task_id}/children",
    response={200: TaskPageOut, 404: Problem, 422: Problem},
    summary="A task's children, newest first",
    description="The tasks this task started with `ctx.spawn_child`/`spawn_children`, on any "
    "queue, filtered by state, paged by cursor (`next_cursor`). 404 for a task the key's "
    "tenant cannot see. Children are started by tasks only: `POST /tasks` takes no parent. "
    "Needs the viewer role (scope tasks:read).",
)
def list_children(request, task_id: UUID, filters: Query[ChildrenQuery]):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    parent = _task(principal, task_id)
    try:
        page = list_tasks(
            principal.scope,
            TaskFilter(states=tuple(filters.state), search=f"parent:{parent.task_id}"),
            cursor=filters.cursor,
            limit=filters.limit,
        )
    except InvalidArgument as exc:
        raise HttpError(422, str(exc)) from None
    return {"items": page.items, "next_cursor": page.next_cursor}
