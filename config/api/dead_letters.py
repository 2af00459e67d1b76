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

from django.db import transaction
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from absurd_core import audit
from absurd_core.actions import dead_letters
from absurd_core.models import DeadLetter
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
        return dead_letters.get_dead_letter(principal.scope, dead_letter_id)
    except DeadLetter.DoesNotExist:
        raise HttpError(404, f"No dead letter {dead_letter_id}.") from None


@router.get("/dead-letters", response=DeadLetterPage, summary="List dead letters")
def list_dead_letters(request, filters: Query[Filters]):
    principal = api_principal(request, Action.VIEW, "tasks:read")
    queryset = dead_letters.dead_letters(principal.scope, state=filters.state).order_by("-id")
    if filters.before is not None:
        queryset = queryset.filter(pk__lt=filters.before)
    rows = list(queryset[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return {"items": rows, "next_before": rows[-1].pk if more else None}


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
    letter = _get(principal, dead_letter_id)
    with transaction.atomic():
        result = dead_letters.retry_dead_letter(
            principal.scope,
            dead_letter_id,
            actor=principal.label,
            note=body.note,
            spawn_new=body.spawn_new,
            max_attempts=body.max_attempts,
        )
        _audit(principal, "retry_dead_letter", letter, result, note=body.note)
    return _action(result)


@router.post(
    "/dead-letters/{dead_letter_id}/discard",
    response={200: ActionOut, 403: Problem, 404: Problem},
    summary="Discard a dead letter (idempotent)",
)
def discard(request, dead_letter_id: int, body: DiscardIn):
    principal = api_principal(request, Action.OPERATE, "dead_letters:write")
    letter = _get(principal, dead_letter_id)
    with transaction.atomic():
        result = dead_letters.discard_dead_letter(
            principal.scope, dead_letter_id, actor=principal.label, note=body.note
        )
        _audit(principal, "discard_dead_letter", letter, result, note=body.note)
    return _action(result)


def _audit(principal, action: str, letter: DeadLetter, result, *, note) -> None:
    """Only an action that took effect is recorded; a repeat changed nothing."""
    if result.applied:
        detail = {"via": "api", "dead_letter": letter.pk, "note": note}
        audit.record(
            principal, action, queue=letter.queue, task_id=letter.task_id,
            tenant=letter.tenant, detail=detail,
        )  # fmt: skip


def _action(result: dead_letters.ActionResult) -> dict:
    return {
        "applied": result.applied,
        "message": result.message,
        "dead_letter": result.dead_letter,
        "retried_task_id": result.retried_task_id,
    }
