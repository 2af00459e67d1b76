"""Dead-letter operations for the dashboard, the API and commands alike.

Two layers: ``retry_dead_letter`` and ``discard_dead_letter`` make the change (no
role check, no audit); ``apply`` and ``apply_bulk`` are the audited actions (check
the actor, act, audit in one transaction), which the dashboard and the API
(config/api/dead_letters.py) call. The reads are absurd_core.queries.dead_letters. Their
wording (verbs, toasts) is the dashboard's (dashboard/presenters.py).

Dead letters are created by the terminal-failure trigger. Retry and discard
are conditional updates (``... where state = 'open'``): under concurrent
duplicates (two operators, a retried API call) exactly one takes effect and
the others are told what already happened. Retry calls ``absurd.retry_task``
in the same transaction, so the dead letter and the task change together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from absurd_core import audit, engine
from absurd_core.actors import Action, Actor
from absurd_core.errors import AbsurdError
from absurd_core.models import DeadLetter
from absurd_core.queries.dead_letters import dead_letters, get_dead_letter
from absurd_core.tenancy import TenantScope


@dataclass(frozen=True)
class ActionResult:
    dead_letter: DeadLetter
    #: False when the dead letter was no longer open (another action won).
    applied: bool
    message: str
    retried_task_id: UUID | None = None


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


# -- the audited actions: the dashboard and the API call these -----------------------------
#
# Each goes through the conditional updates above, so it takes effect once however
# often it is sent; a repeat is told what already happened ("Already retried by
# user:ann."). An action that took effect is audited (absurd_core.audit.record) in the
# same transaction, on the dead letter's task, so it shows on the task's timeline.
#
# Bulk actions apply the same function to each dead letter, each in its own
# transaction: one that another operator resolved meanwhile is counted as skipped,
# one the engine refuses as failed, and neither stops the others.

MAX_NOTE_LENGTH = 2000
#: A bulk action handles at most this many dead letters per request (oldest first).
BULK_LIMIT = 500


class Kind(StrEnum):
    RETRY = "retry"
    RETRY_NEW = "retry_new"
    DISCARD = "discard"


class ActionError(ValueError):
    """Bad input for an action (no note for a discard, an unknown action): nothing changed."""


def parse_kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise ActionError(f"Unknown action {value!r}.") from None


def clean_note(kind: Kind, note: str, *, required: bool = True) -> str:
    """The note, stripped; ActionError when too long, or missing from a discard that
    ``required`` one (the dashboard asks why; the API's discard may go without)."""
    note = (note or "").strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ActionError(f"The note is longer than {MAX_NOTE_LENGTH} characters.")
    if required and kind is Kind.DISCARD and not note:
        raise ActionError("Say why you discard: a note is required.")
    return note


def apply(
    principal: Actor,
    dead_letter_id: int,
    kind: Kind,
    note: str = "",
    *,
    max_attempts: int | None = None,
    via: str | None = None,
    discard_needs_note: bool = True,
) -> ActionResult:
    """One action on one dead letter of ``principal``'s scope: the one path the dashboard
    and the API share.

    ``max_attempts`` overrides the retried task's; ``via`` names the surface in the audit
    row (the API passes ``"api"``). Raises DeadLetter.DoesNotExist (also for another
    tenant's), PermissionDenied, ActionError (bad input) and AbsurdError (the engine
    refused the retry); in every case nothing changed.
    """
    principal.require(Action.OPERATE)
    note = clean_note(kind, note, required=discard_needs_note)
    scope, actor = principal.scope, principal.label
    with transaction.atomic():
        if kind is Kind.DISCARD:
            result = discard_dead_letter(scope, dead_letter_id, actor=actor, note=note)
        else:
            result = retry_dead_letter(
                scope,
                dead_letter_id,
                actor=actor,
                note=note,
                spawn_new=kind is Kind.RETRY_NEW,
                max_attempts=max_attempts,
            )
        if result.applied:
            dead_letter = result.dead_letter
            detail = {"via": via} if via else {}
            detail.update(dead_letter=dead_letter.pk, note=note)
            if kind is not Kind.DISCARD:
                detail["spawn_new"] = kind is Kind.RETRY_NEW
                detail["retried_task_id"] = str(result.retried_task_id)
            audit.record(
                principal,
                "discard_dead_letter" if kind is Kind.DISCARD else "retry_dead_letter",
                queue=dead_letter.queue,
                task_id=dead_letter.task_id,
                tenant=dead_letter.tenant,
                detail=detail,
            )
    return result


@dataclass
class BulkResult:
    kind: Kind
    applied: int = 0
    #: Already resolved (by another operator, or earlier) when their turn came.
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    #: Matching dead letters left for another run (more than BULK_LIMIT).
    remaining: int = 0


def apply_bulk(
    principal: Actor, ids: list[int], kind: Kind, note: str = "", *, remaining: int = 0
) -> BulkResult:
    """``kind`` on each of ``ids`` (all in ``principal``'s scope: the caller checks first)."""
    principal.require(Action.OPERATE)
    note = clean_note(kind, note)
    outcome = BulkResult(kind, remaining=remaining)
    for dead_letter_id in ids:
        try:
            result = apply(principal, dead_letter_id, kind, note)
        except DeadLetter.DoesNotExist:  # dropped with its queue meanwhile
            outcome.skipped += 1
            continue
        except AbsurdError as exc:
            outcome.failed.append(f"{dead_letter_id}: {exc.message}")
            continue
        if result.applied:
            outcome.applied += 1
        elif result.dead_letter.state == DeadLetter.State.OPEN:
            # Open but not retried: the task was cleaned up.
            outcome.failed.append(f"{dead_letter_id}: {result.message}")
        else:
            outcome.skipped += 1
    return outcome
