"""Spawning tasks over the JSON API: POST /api/v1/tasks.

The tenant comes from the API key, never from the body. The tenant's spawn
rate applies: over it, 429 with ``Retry-After`` and nothing is spawned.
Spawning needs the operator role (scope tasks:write).
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import HttpError

from absurd_core import spawn
from absurd_core.errors import AbsurdError
from absurd_core.registry import registry
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
