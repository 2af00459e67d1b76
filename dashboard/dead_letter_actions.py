"""Dead-letter actions from the dashboard: retry in place, retry as a new task, discard.

Each action goes through absurd_core.dead_letters, whose conditional update
(``... where state = 'open'``) makes it take effect once however often it is
sent; a repeat is told what already happened ("Already retried by user:ann.").
An action that took effect is audited (absurd_core.audit.record) in the same
transaction, on the dead letter's task, so it shows on the task's timeline.

Bulk actions apply the same function to each dead letter, each in its own
transaction: one that another operator resolved meanwhile is counted as
skipped, one the engine refuses as failed, and neither stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.db import transaction

from absurd_core import audit
from absurd_core.dead_letters import ActionResult, discard_dead_letter, retry_dead_letter
from absurd_core.errors import AbsurdError
from absurd_core.models import DeadLetter
from tenants.permissions import Action, Principal

MAX_NOTE_LENGTH = 2000
#: A bulk action handles at most this many dead letters per request (oldest first).
BULK_LIMIT = 500


class Kind(StrEnum):
    RETRY = "retry"
    RETRY_NEW = "retry_new"
    DISCARD = "discard"

    @property
    def verb(self) -> str:
        return {"retry": "Retry", "retry_new": "Retry as new tasks", "discard": "Discard"}[self]

    @property
    def done(self) -> str:
        return {"retry": "Retried", "retry_new": "Retried as new", "discard": "Discarded"}[self]


class ActionError(ValueError):
    """Bad input for an action (no note for a discard, an unknown action): nothing changed."""


def parse_kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise ActionError(f"Unknown action {value!r}.") from None


def clean_note(kind: Kind, note: str) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ActionError(f"The note is longer than {MAX_NOTE_LENGTH} characters.")
    if kind is Kind.DISCARD and not note:
        raise ActionError("Say why you discard: a note is required.")
    return note


def apply(principal: Principal, dead_letter_id: int, kind: Kind, note: str = "") -> ActionResult:
    """One action on one dead letter of ``principal``'s scope.

    Raises DeadLetter.DoesNotExist (also for another tenant's), PermissionDenied,
    ActionError (bad input) and AbsurdError (the engine refused the retry); in
    every case nothing changed.
    """
    principal.require(Action.OPERATE)
    note = clean_note(kind, note)
    scope, actor = principal.scope, principal.label
    with transaction.atomic():
        if kind is Kind.DISCARD:
            result = discard_dead_letter(scope, dead_letter_id, actor=actor, note=note)
        else:
            result = retry_dead_letter(
                scope, dead_letter_id, actor=actor, note=note, spawn_new=kind is Kind.RETRY_NEW
            )
        if result.applied:
            dead_letter = result.dead_letter
            detail = {"dead_letter": dead_letter.pk, "note": note}
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


def describe(kind: Kind, result: ActionResult) -> tuple[str, str]:
    """(toast level, text) for one action's result."""
    if not result.applied:
        # Still open but not retried: the task was removed by queue cleanup.
        level = "warning" if result.dead_letter.state == DeadLetter.State.OPEN else "info"
        return level, result.message
    if kind is Kind.RETRY_NEW:
        return "success", f"Retried as new task {result.retried_task_id}."
    if kind is Kind.RETRY:
        return "success", f"Retried task {result.dead_letter.task_id}."
    return "success", f"Discarded dead letter {result.dead_letter.pk}."


@dataclass
class BulkResult:
    kind: Kind
    applied: int = 0
    #: Already resolved (by another operator, or earlier) when their turn came.
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    #: Matching dead letters left for another run (more than BULK_LIMIT).
    remaining: int = 0

    def describe(self) -> tuple[str, str]:
        parts = [f"{self.kind.done} {self.applied} dead letter{'s' if self.applied != 1 else ''}."]
        if self.skipped:
            parts.append(f"{self.skipped} already resolved.")
        if self.failed:
            parts.append(f"{len(self.failed)} failed: {self.failed[0]}")
        if self.remaining:
            parts.append(f"{self.remaining} more match; run it again for them.")
        level = "warning" if self.failed else ("success" if self.applied else "info")
        return level, " ".join(parts)


def apply_bulk(
    principal: Principal, ids: list[int], kind: Kind, note: str = "", *, remaining: int = 0
) -> BulkResult:
    """``kind`` on each of ``ids`` (all in ``principal``'s scope: check first, see
    ``check_ids``)."""
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
