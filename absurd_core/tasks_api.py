"""Tasks over the JSON API: spawn, get, history, cancel, retry.

The tenant comes from the API key, never from the body. The tenant's spawn
rate applies: over it, 429 with ``Retry-After`` and nothing is spawned.
Spawning needs the operator role (scope tasks:write).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import HttpError

from absurd_core import engine, history, spawn
from absurd_core.errors import AbsurdError, TaskNotFound
from absurd_core.registry import registry
from absurd_core.task_queries import find_task
from tenants.api_auth import Problem, api_principal
from tenants.limits import RateLimited
from tenants.permissions import Action

router = Router(tags=["tasks"])


class SpawnIn(Schema):
    task: str = Field(..., description="A registered task name, e.g. demo.two_steps.")
    params: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int | None = Field(None, ge=1, le=1000)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


class SpawnOut(Schema):
    task_id: str
    run_id: str | None
    queue: str
    created: bool


@router.post(
    "/tasks",
    response={200: SpawnOut, 201: SpawnOut, 403: Problem, 404: Problem, 422: Problem, 429: Problem},
    summary="Spawn a task",
    description="201 with the new task; 200 with the existing one when `idempotency_key` was "
    "used before. 429 with `Retry-After` (seconds) when the tenant is over its spawn rate; "
    "nothing is spawned then. Needs the operator role.",
)
def spawn_task(request, body: SpawnIn, response: HttpResponse):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    spec = registry.get(body.task)
    if spec is None:
        raise HttpError(404, f"No task named {body.task!r} is registered.")
    try:
        result = spawn(
            body.task,
            body.params,
            tenant=principal.scope.slug,
            max_attempts=body.max_attempts,
            idempotency_key=body.idempotency_key,
        )
    except RateLimited as exc:
        error = HttpError(429, str(exc))
        error.retry_after = max(1, math.ceil(exc.retry_after))
        raise error from None
    except AbsurdError as exc:
        raise HttpError(422, str(exc)) from None
    status = 201 if result.created else 200
    return status, {
        "task_id": str(result.task_id),
        "run_id": str(result.run_id) if result.run_id else None,
        "queue": spec.queue,
        "created": result.created,
    }


class RunOut(Schema):
    run_id: UUID
    attempt: int
    state: str
    started_at: datetime | None
    completed_at: datetime | None
    failure: Any = None


class CheckpointOut(Schema):
    name: str
    updated_at: datetime


class TaskOut(Schema):
    task_id: UUID
    queue: str
    task_name: str
    state: str
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


class HistoryRow(Schema):
    kind: str
    from_state: str | None
    to_state: str | None
    run_id: UUID | None
    attempt: int | None
    reason: str | None
    detail: Any = None
    created_at: datetime


class RetryIn(Schema):
    max_attempts: int | None = Field(None, ge=1, le=1000)
    spawn_new: bool = Field(False, description="Retry as a new task instead of in place.")


class TaskActionOut(Schema):
    task_id: UUID
    state: str


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
    task = _task(principal, task_id)
    engine.cancel_task(task.queue, task.task_id)
    return {"task_id": task.task_id, "state": _task(principal, task_id).state}


@router.post(
    "/tasks/{task_id}/retry",
    response={200: TaskActionOut, 403: Problem, 404: Problem, 409: Problem},
    summary="Retry a failed or cancelled task",
    description="In place (the same task id), or as a new task with `spawn_new`. 409 when the "
    "engine refuses (the task has not ended, or max_attempts is not above its attempts). "
    "Needs the operator role (scope tasks:write).",
)
def retry_task(request, task_id: UUID, body: RetryIn):
    principal = api_principal(request, Action.OPERATE, "tasks:write")
    task = _task(principal, task_id)
    try:
        result = engine.retry_task(
            task.queue, task.task_id, max_attempts=body.max_attempts, spawn_new=body.spawn_new
        )
    except AbsurdError as exc:
        raise HttpError(409, str(exc)) from None
    return {"task_id": result.task_id, "state": _task(principal, result.task_id).state}
