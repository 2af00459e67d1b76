"""Emitting events over the JSON API, in the calling tenant's namespace (absurd_core/events.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from absurd_core import audit
from absurd_core.errors import InvalidArgument, InvalidQueueName, QueueNotFound
from absurd_core.events import MAX_NAME_LENGTH, emit_for_tenant
from config.api_input import StrictBody
from config.problems import Problem
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


class EmitOut(Schema):
    queue: str
    name: str
    event_name: str = Field(
        ..., description="The engine's name: `tenant:<your tenant>:<name>`, what tasks wait for."
    )
    first: bool = Field(..., description="False when the name was emitted before.")
    payload: Any = Field(None, description="The payload waiters receive (the first emit's).")


@router.post(
    "/events",
    response={200: EmitOut, 201: EmitOut, 403: Problem, 404: Problem, 422: Problem},
    summary="Emit an event",
    description="Wakes the tenant's tasks waiting for `name` on `queue` (task code: "
    "`ctx.await_tenant_event(name)`). The first emit of a name wins: it answers 201 and its "
    "payload is kept for every waiter, now or later; emitting the same name again answers 200 "
    "with `first: false` and the payload that won, and changes nothing. Names live in the "
    "tenant's own namespace, so no tenant can wake another's tasks. Needs the operator role "
    "(scope events:write).",
)
def emit_event(request, body: EmitIn):
    principal = api_principal(request, Action.OPERATE, "events:write")
    try:
        with transaction.atomic():
            result = emit_for_tenant(principal.scope, body.queue, body.name, body.payload)
            if result.first:
                detail = {"via": "api", "event": result.event_name}
                audit.record(principal, "emit_event", queue=body.queue, detail=detail)
    except (QueueNotFound, InvalidQueueName):
        raise HttpError(404, f"No queue named {body.queue!r}.") from None
    except InvalidArgument as exc:
        raise HttpError(422, str(exc)) from None
    return Status(201 if result.first else 200, result)
