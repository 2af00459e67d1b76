"""Queues and workers over the JSON API.

Reading a queue shows the calling tenant's own task counts. Changing one (its
cleanup policy, pausing, resuming) affects every tenant that shares it, so it
needs an admin key of a platform tenant with scope queues:admin.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from absurd_core.actions import queues as queue_actions
from absurd_core.actions import workers as worker_actions
from absurd_core.errors import InvalidArgument, InvalidQueueName, QueueNotFound
from absurd_core.queries.partitions import storage_modes
from absurd_core.queries.queues import QueueStats, get_queue_info, list_queue_info
from absurd_core.queries.workers import workers_for
from absurd_core.queues import MAX_QUEUE_NAME_BYTES
from config.api.input import StrictBody, json_int
from config.api.problems import Problem
from tenants.api_auth import api_principal
from tenants.permissions import Action

router = Router(tags=["queues"])
# Path values are not echoed back: a probe's guesses should not land in error logs.
NO_QUEUE = "No queue has that name."


class QueueOut(Schema):
    name: str
    counts: dict[str, int] = Field(
        ..., description="Your tenant's tasks by state.", examples=[{"pending": 3, "running": 1}]
    )
    paused: bool
    estimated: bool = Field(
        False,
        description="True when the counts are estimates: exact counting stops at a "
        "limit on huge queues (docs/dashboard-performance.md).",
    )
    paused_at: datetime | None = None
    paused_by: str | None = None


class QueueDetailOut(QueueOut):
    cleanup_ttl_seconds: int | None = Field(
        None, description="Finished tasks older than this are deleted by cleanup."
    )
    cleanup_limit: int | None = Field(None, description="Most tasks one cleanup pass deletes.")
    storage_mode: str | None = Field(
        None, description="unpartitioned or partitioned (upstream's storage modes)."
    )


class QueueIn(StrictBody):
    name: str = Field(
        ...,
        examples=["reports"],
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$",
        min_length=1,
        max_length=MAX_QUEUE_NAME_BYTES,
        description="The new queue's name: ASCII letters, digits, '_', '-' and '.', starting "
        f"with a letter, digit or '_'; at most {MAX_QUEUE_NAME_BYTES} characters.",
    )
    storage_mode: Literal["unpartitioned", "partitioned"] = Field(
        "unpartitioned",
        description="Upstream Absurd's storage: one table per kind, or weekly partitions "
        "(for very large queues; old empty weeks can be dropped whole, see docs/scaling.md).",
    )


class PolicyIn(StrictBody):
    cleanup_ttl_seconds: json_int(1, 10 * 365 * 86400) | None = Field(None, examples=[604800])
    cleanup_limit: json_int(1, 1_000_000) | None = Field(None, examples=[1000])


class PauseOut(Schema):
    name: str
    paused: bool
    changed: bool = Field(..., description="False when the queue already was in that state.")


class WorkerOut(Schema):
    worker_id: str
    host: str
    queues: list[str]
    concurrency: int | None = Field(..., description="null for an external worker.")
    status: str = Field(..., description="alive, dead (missed heartbeats) or stopped.")
    started_at: datetime
    last_seen: datetime
    in_flight: int | None = Field(None, description="Platform keys only: it sums all tenants.")
    processed: int | None = None
    failed: int | None = None
    external: bool = Field(
        False,
        description="Not a runworker of ours (another Absurd client): seen only through the "
        "runs it holds claimed now, named as it claims them.",
    )


def _out(info: QueueStats) -> dict:
    out = {
        "name": info.name,
        "counts": info.counts,
        "paused": info.paused,
        "estimated": info.estimated,
        "paused_at": info.pause.paused_at if info.pause else None,
        "paused_by": info.pause.paused_by if info.pause else None,
    }
    if info.cleanup_ttl is not None:
        out["cleanup_ttl_seconds"] = int(info.cleanup_ttl.total_seconds())
        out["cleanup_limit"] = info.cleanup_limit
    return out


def _with_storage(out: dict, name: str) -> dict:
    out["storage_mode"] = storage_modes().get(name)
    return out


def _detail(principal, name: str) -> dict:
    try:
        return _with_storage(_out(get_queue_info(principal.scope, name)), name)
    except (QueueNotFound, InvalidQueueName):
        raise HttpError(404, NO_QUEUE) from None


def _platform_admin(request, what: str):
    principal = api_principal(request, Action.ADMIN, "queues:admin")
    try:
        principal.require_platform_admin(what)
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from None
    return principal


@router.get(
    "/queues",
    response={200: list[QueueOut]},
    summary="List queues with your tenant's task counts",
    description="Every queue, whether it is paused, and your tenant's tasks in it by state. "
    "Needs the viewer role (scope tasks:read).",
)
def list_queues(request):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    return [_out(info) for info in list_queue_info(principal.scope)]


@router.post(
    "/queues",
    response={201: QueueDetailOut, 403: Problem, 409: Problem, 422: Problem},
    summary="Create a queue",
    description="`storage_mode` is upstream Absurd's: `unpartitioned` (the default) or "
    "`partitioned` (weekly partitions, for very large queues). 422 for a name no queue may "
    "have or another storage mode, 409 for a name in use. Needs an admin key of a platform "
    "tenant (scope queues:admin): queues are shared by every tenant.",
)
def create_queue(request, body: QueueIn):
    principal = _platform_admin(request, "create a queue")
    try:
        queue_actions.create_queue(principal, body.name, storage_mode=body.storage_mode, via="api")
    except queue_actions.QueueExists as exc:
        raise HttpError(409, str(exc)) from None
    except (InvalidQueueName, InvalidArgument) as exc:
        raise HttpError(422, exc.message) from None
    return Status(201, _detail(principal, body.name))


@router.get(
    "/queues/{name}",
    response={200: QueueDetailOut, 404: Problem},
    summary="Get a queue",
    description="Counts, pause state and cleanup policy. Needs the viewer role (scope tasks:read).",
)
def get_queue(request, name: str):
    return _detail(api_principal(request, Action.VIEW, "tasks:read"), name)


@router.put(
    "/queues/{name}/policy",
    response={200: QueueDetailOut, 403: Problem, 404: Problem, 422: Problem},
    summary="Update a queue's cleanup policy",
    description="How long finished tasks are kept (`cleanup_ttl_seconds`) and how many one "
    "cleanup pass deletes (`cleanup_limit`); omitted fields stay as they are (an empty body "
    "changes nothing and answers the policy). Needs an admin "
    "key of a platform tenant (scope queues:admin): queues are shared by every tenant.",
)
def update_policy(request, name: str, body: PolicyIn):
    principal = _platform_admin(request, "change a queue's policy")
    ttl = timedelta(seconds=body.cleanup_ttl_seconds) if body.cleanup_ttl_seconds else None
    if ttl is None and body.cleanup_limit is None:
        return _detail(principal, name)  # nothing to change: the policy as it is
    try:
        queue_actions.update_cleanup_policy(
            principal, name, cleanup_ttl=ttl, cleanup_limit=body.cleanup_limit, via="api"
        )
    except (QueueNotFound, InvalidQueueName):
        raise HttpError(404, NO_QUEUE) from None
    except InvalidArgument as exc:
        raise HttpError(422, str(exc)) from None
    return _detail(principal, name)


@router.post(
    "/queues/{name}/pause",
    response={200: PauseOut, 403: Problem, 404: Problem},
    summary="Pause a queue",
    description="Workers stop claiming from it within a second; spawns, events and "
    "cancellations still work, and runs already executing finish. Idempotent (`changed` says "
    "whether anything changed). Needs an admin key of a platform tenant (scope queues:admin).",
)
def pause(request, name: str):
    principal = _platform_admin(request, "pause a queue")
    try:
        changed = queue_actions.pause(principal, name, via="api")
    except (QueueNotFound, InvalidQueueName):
        raise HttpError(404, NO_QUEUE) from None
    return {"name": name, "paused": True, "changed": changed}


@router.post(
    "/queues/{name}/resume",
    response={200: PauseOut, 403: Problem, 404: Problem},
    summary="Resume a paused queue",
    description="Idle workers are woken at once. Idempotent. Needs an admin key of a platform "
    "tenant (scope queues:admin).",
)
def resume(request, name: str):
    principal = _platform_admin(request, "resume a queue")
    try:
        changed = queue_actions.resume(principal, name, via="api")
    except (QueueNotFound, InvalidQueueName):
        raise HttpError(404, NO_QUEUE) from None
    return {"name": name, "paused": False, "changed": changed}


@router.get(
    "/workers",
    response={200: list[WorkerOut]},
    tags=["workers"],
    summary="List running workers",
    description="Workers are shared by every tenant: you see their identity, queues and "
    "liveness; the counters (in flight, processed, failed) add up all tenants' work and are "
    "shown only to platform keys. `include_stopped` adds workers that shut down. Workers "
    "that are not ours (other Absurd clients) are listed with `external: true`, from the runs "
    "they hold claimed now. Needs the viewer role (scope tasks:read).",
)
def list_workers(request, include_stopped: bool = False):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    return workers_for(
        principal.scope, include_stopped=include_stopped, platform=principal.platform
    )


class WorkerRemovedOut(Schema):
    worker_id: str
    removed: bool


@router.delete(
    "/workers/{worker_id}",
    response={200: WorkerRemovedOut, 403: Problem, 404: Problem, 409: Problem},
    tags=["workers"],
    summary="Remove a dead or stopped worker from the list",
    description="Forgets the registry row of a worker that stopped (or missed three heartbeats); "
    "runs it still holds are retried by the engine when their lease expires. A live worker is "
    "refused with 409 (it would register again). Audited. Needs an admin key of a platform "
    "tenant (scope queues:admin).",
)
def remove_worker(request, worker_id: str):
    principal = api_principal(request, Action.ADMIN, "queues:admin")
    try:
        worker_actions.remove_worker(principal, worker_id, via="api")
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from None
    except worker_actions.WorkerNotFound as exc:
        raise HttpError(404, str(exc)) from None
    except worker_actions.WorkerAlive as exc:
        raise HttpError(409, str(exc)) from None
    return {"worker_id": worker_id, "removed": True}
