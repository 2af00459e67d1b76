"""Dead letters in the JSON API: list, get, retry, discard.

Retry and discard are idempotent: the first call takes effect (200 with
``applied: true``); a repeat, or a call racing another operator, changes
nothing and answers 200 with ``applied: false`` and what already happened.
Reading needs the viewer role (scope ``tasks:read``); retry and discard need
operator (scope ``dead_letters:write``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from absurd_core.actions.dead_letters import ActionResult, Kind, apply
from absurd_core.models import DeadLetter
from absurd_core.queries import dead_letters as reads
from absurd_core.queries.paging import keyset_page
from config.api.input import StrictBody, json_int
from config.api.problems import Problem
from tenants.api_auth import api_principal
from tenants.permissions import Action, Principal

router = Router(tags=["dead letters"])


class DeadLetterOut(Schema):
    id: int
    queue: str
    task_id: UUID
    task_name: str
    error_name: str | None
    error_message: str | None
    attempts: int
    failed_at: datetime
    state: str
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None
    task_deleted_at: datetime | None


class DeadLetterPage(Schema):
    items: list[DeadLetterOut]
    next_before: int | None


class DeadLetterGroupOut(Schema):
    task_name: str
    error_name: str = Field(description='The error class; "" when the failure had none.')
    error_message: str = Field(
        description="The normalised message: numbers, uuids, hex ids and quoted values folded"
        " (docs/dashboard-dead-letters.md#groups)."
    )
    example_message: str
    count: int
    first_failed_at: datetime
    last_failed_at: datetime


class DeadLetterGroupList(Schema):
    items: list[DeadLetterGroupOut]


class GroupFilters(Schema):
    # A list so that a repeated parameter is refused (422), not silently the last one.
    queue: list[str] = Field(
        default_factory=list, max_length=1, description="Only this queue's dead letters."
    )


class Filters(Schema):
    state: Literal["open", "retried", "discarded"] | None = None
    before: int | None = Field(None, description="Only dead letters with a smaller id (keyset).")
    limit: int = Field(50, ge=1, le=200)


class DeadLetterRetryIn(StrictBody):
    note: str = Field("", max_length=2000)
    spawn_new: bool = Field(False, description="Retry as a new task instead of in place.")
    max_attempts: json_int(1, 1000) | None = None


class DiscardIn(StrictBody):
    note: str = Field("", max_length=2000)


class ActionOut(Schema):
    applied: bool
    message: str
    dead_letter: DeadLetterOut
    retried_task_id: UUID | None = None


def _get(principal: Principal, dead_letter_id: int) -> DeadLetter:
    try:
        return reads.get_dead_letter(principal.scope, dead_letter_id)
    except DeadLetter.DoesNotExist:
        raise HttpError(404, f"No dead letter {dead_letter_id}.") from None


def _apply(principal: Principal, dead_letter_id: int, kind: Kind, **options) -> dict:
    """The dashboard's audited action (absurd_core.actions.dead_letters.apply); only one
    that took effect is audited, with ``via: api``. A discard needs no note here."""
    try:
        result = apply(principal, dead_letter_id, kind, via="api", **options)
    except DeadLetter.DoesNotExist:
        raise HttpError(404, f"No dead letter {dead_letter_id}.") from None
    return _action(result)


@router.get("/dead-letters", response=DeadLetterPage, summary="List dead letters")
def list_dead_letters(request, filters: Query[Filters]):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    items, next_before = keyset_page(
        reads.dead_letters(principal.scope, state=filters.state).order_by("-id"),
        before=filters.before,
        limit=filters.limit,
    )
    return {"items": items, "next_before": next_before}


@router.get(
    "/dead-letters/groups",
    response=DeadLetterGroupList,
    summary="Open dead letters grouped by task, error class and normalised message",
)
def list_groups(request, filters: Query[GroupFilters]):
    """The dashboard's groups (absurd_core.queries.dead_letters.groups), largest first."""
    principal = api_principal(request, Action.VIEW, "tasks:read")
    queue = filters.queue[0] if filters.queue else None
    return {"items": reads.groups(principal.scope, queue=queue)}


@router.get(
    "/dead-letters/{dead_letter_id}",
    response={200: DeadLetterOut, 404: Problem},
    summary="Get a dead letter",
)
def get_dead_letter(request, dead_letter_id: int):
    return _get(api_principal(request, Action.VIEW, "tasks:read"), dead_letter_id)


@router.post(
    "/dead-letters/{dead_letter_id}/retry",
    response={200: ActionOut, 403: Problem, 404: Problem},
    summary="Retry a dead letter's task (idempotent)",
)
def retry(request, dead_letter_id: int, body: DeadLetterRetryIn):
    principal = api_principal(request, Action.OPERATE, "dead_letters:write")
    kind = Kind.RETRY_NEW if body.spawn_new else Kind.RETRY
    return _apply(principal, dead_letter_id, kind, note=body.note, max_attempts=body.max_attempts)


@router.post(
    "/dead-letters/{dead_letter_id}/discard",
    response={200: ActionOut, 403: Problem, 404: Problem},
    summary="Discard a dead letter (idempotent)",
)
def discard(request, dead_letter_id: int, body: DiscardIn):
    principal = api_principal(request, Action.OPERATE, "dead_letters:write")
    return _apply(principal, dead_letter_id, Kind.DISCARD, note=body.note, discard_needs_note=False)


def _action(result: ActionResult) -> dict:
    return {
        "applied": result.applied,
        "message": result.message,
        "dead_letter": result.dead_letter,
        "retried_task_id": result.retried_task_id,
    }
