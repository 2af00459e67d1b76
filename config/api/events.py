"""Emitting events over the JSON API: in the calling tenant's namespace, or raw for platform keys.

The rules are in absurd_core/emitting.py and absurd_core/event_names.py.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from absurd_core import audit
from absurd_core.emitting import MAX_NAME_LENGTH, SystemEventName, emit_for_tenant, emit_raw
from absurd_core.errors import InvalidArgument, InvalidQueueName, QueueNotFound
from config.api.input import StrictBody
from config.api.problems import Problem
from tenants.api_auth import api_principal
from tenants.permissions import Action

router = Router(tags=["events"])


class EmitIn(StrictBody):
    queue: str = Field(..., min_length=1, max_length=57, examples=["demo"])
    # No control characters (validate_event_name refuses them too): the schema says so.
    name: str = Field(
        ...,
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        examples=["order-42:paid"],
    )
    payload: Any = Field(None, examples=[{"amount": 1200}])
    raw: bool = Field(
        False,
        description="Platform keys only: emit `name` as it is, not in the key's tenant "
        "namespace (for tasks without a tenant, and other Absurd clients' raw names). "
        "Any other key gets 403. System names (`approval:...`) are refused even then.",
    )


class EmitOut(Schema):
    queue: str
    name: str
    event_name: str = Field(
        ...,
        description="The engine's name, what tasks wait for: `tenant:<your tenant>:<name>`, "
        "or `name` itself for a raw emit.",
    )
    first: bool = Field(..., description="False when the name was emitted before.")
    payload: Any = Field(None, description="The payload waiters receive (the first emit's).")
    woken: int = Field(
        ..., description="How many waiting tasks this emit woke (0 when it was not the first)."
    )
    raw: bool = Field(..., description="True for a platform key's raw emit.")


@router.post(
    "/events",
    response={200: EmitOut, 201: EmitOut, 403: Problem, 404: Problem, 422: Problem},
    summary="Emit an event",
    description="Wakes the tenant's tasks waiting for `name` on `queue` (task code: "
    "`ctx.await_event(name)`, which waits in the task's tenant namespace). The first emit of a "
    "name wins: it answers 201 with `woken`, how many waiting tasks it woke, and its payload "
    "is kept for every waiter, now or later; emitting the same name again answers 200 with "
    "`first: false` and the payload that won, and changes nothing. Names live in the "
    "tenant's own namespace (`tenant:<slug>:<name>`), so no tenant can wake or read another's "
    "tasks. A platform tenant's key may emit a raw name with `raw: true`; other keys get 403. "
    "Needs the operator role (scope events:write).",
)
def emit_event(request, body: EmitIn):
    principal = api_principal(request, Action.OPERATE, "events:write")
    if body.raw and not principal.platform:
        raise HttpError(
            403,
            "Only a platform tenant's key may emit a raw event name; without `raw`, the event "
            "is emitted in your tenant's namespace.",
        )
    try:
        with transaction.atomic():
            if body.raw:
                result = emit_raw(body.queue, body.name, body.payload)
            else:
                result = emit_for_tenant(principal.scope, body.queue, body.name, body.payload)
            if result.first:
                detail = {"via": "api", "event": result.event_name, "woken": result.woken}
                if body.raw:
                    detail["raw"] = True
                audit.record(principal, "emit_event", queue=body.queue, detail=detail)
    except (QueueNotFound, InvalidQueueName):
        raise HttpError(404, f"No queue named {body.queue!r}.") from None
    except SystemEventName as exc:
        raise HttpError(403, str(exc)) from None
    except InvalidArgument as exc:
        raise HttpError(422, str(exc)) from None
    return Status(201 if result.first else 200, {**vars(result), "raw": body.raw})
