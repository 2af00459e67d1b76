"""Dead-letter operations for the dashboard, the API and commands alike.

Dead letters are created by the terminal-failure trigger. Retry and discard
are conditional updates (``... where state = 'open'``): under concurrent
duplicates (two operators, a retried API call) exactly one takes effect and
the others are told what already happened. Retry calls ``absurd.retry_task``
in the same transaction, so the dead letter and the task change together.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from absurd_core import engine
from absurd_core.models import DeadLetter
from absurd_core.tenancy import TenantScope


@dataclass(frozen=True)
class ActionResult:
    dead_letter: DeadLetter
    #: False when the dead letter was no longer open (another action won).
    applied: bool
    message: str
    retried_task_id: UUID | None = None


def dead_letters(scope: TenantScope, *, state: str | None = None) -> QuerySet[DeadLetter]:
    queryset = scope.restrict(DeadLetter.objects.all())
    if state is not None:
        queryset = queryset.filter(state=state)
    return queryset


def get_dead_letter(scope: TenantScope, dead_letter_id: int) -> DeadLetter:
    """Raises DeadLetter.DoesNotExist, also for another tenant's dead letter."""
    return dead_letters(scope).get(pk=dead_letter_id)


def _resolve(scope, dead_letter_id, state, actor, note) -> tuple[int, DeadLetter]:
    updated = (
        dead_letters(scope, state=DeadLetter.State.OPEN)
        .filter(pk=dead_letter_id)
        .update(state=state, resolved_by=actor, resolved_at=timezone.now(), note=note or None)
    )
    return updated, get_dead_letter(scope, dead_letter_id)


def _not_applied(dead_letter: DeadLetter) -> ActionResult:
    who = f" by {dead_letter.resolved_by}" if dead_letter.resolved_by else ""
    return ActionResult(dead_letter, False, f"Already {dead_letter.state}{who}.")


def retry_dead_letter(
    scope: TenantScope,
    dead_letter_id: int,
    *,
    actor: str,
    note: str = "",
    spawn_new: bool = False,
    max_attempts: int | None = None,
) -> ActionResult:
    """Retry the task (in place, or as a new task) and mark the dead letter retried."""
    with transaction.atomic():
        dead_letter = get_dead_letter(scope, dead_letter_id)
        if dead_letter.state == DeadLetter.State.OPEN and dead_letter.task_deleted_at:
            return ActionResult(
                dead_letter, False, "The task was removed by queue cleanup; discard instead."
            )
        updated, dead_letter = _resolve(
            scope, dead_letter_id, DeadLetter.State.RETRIED, actor, note
        )
        if not updated:
            return _not_applied(dead_letter)
        result = engine.retry_task(
            dead_letter.queue, dead_letter.task_id, spawn_new=spawn_new, max_attempts=max_attempts
        )
    return ActionResult(dead_letter, True, "Retried.", retried_task_id=result.task_id)


def discard_dead_letter(
    scope: TenantScope, dead_letter_id: int, *, actor: str, note: str = ""
) -> ActionResult:
    """Mark the dead letter discarded; the engine is not touched."""
    with transaction.atomic():
        updated, dead_letter = _resolve(
            scope, dead_letter_id, DeadLetter.State.DISCARDED, actor, note
        )
    if not updated:
        return _not_applied(dead_letter)
    return ActionResult(dead_letter, True, "Discarded.")
