"""Bulk cancel and retry: on a selection of task ids, or on every task a filter matches.

For the runs page (and anything else that needs it). This module returns counts
(``Preview``, ``BulkOutcome``); their wording is the dashboard's
(dashboard/presenters.py). Tasks are acted on a page
(``BATCH``) per short transaction, each task with its audit row
(``absurd_core.audit.record``, detail ``{"bulk": true}``) in that transaction,
so a bulk action over many tasks never holds a long transaction or thousands of
row locks. A task that changed meanwhile is counted, not an error:

- cancel (``absurd_core.actions.tasks.cancel_rows``, the one cancel path's bulk
  form) applies to pending, running and sleeping tasks; a task that had already
  ended is counted as skipped and not audited;
- retry (``engine.retry_task``, in place) applies to failed tasks only; the
  engine checks the state under its row lock, any other state is skipped.

"All matching" walks the filter in keyset pages of ``BATCH`` tasks through
``task_list.list_tasks`` (never OFFSET, never everything in memory), restricted
to the states the action applies to; the matching tasks in other states are
counted once, up front, as skipped.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import transaction

from absurd_core import audit, engine
from absurd_core.actions import tasks as task_actions
from absurd_core.actors import Action, Actor
from absurd_core.errors import AbsurdError, QueueNotFound, TaskNotFound
from absurd_core.queries.task_list import MAX_LIMIT, TaskFilter, TaskRow, list_tasks
from absurd_core.queries.task_selection import count_by_state, tasks_by_id
from absurd_core.tenancy import TenantScope

#: Audit detail of a bulk action's rows.
BULK = {"bulk": True}
#: The states each action applies to.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "cancel": task_actions.CANCELLABLE_STATES,
    "retry": ("failed",),
}
#: Tasks per keyset page when walking "all matching".
BATCH = MAX_LIMIT
#: Most ids one selection may name (a page holds at most task_list.MAX_LIMIT rows).
MAX_SELECTION = 1000


@dataclass
class BulkOutcome:
    action: str
    #: Tasks cancelled or retried.
    applied: int = 0
    #: Tasks the action does not apply to (already ended; not failed).
    skipped: int = 0
    #: Tasks that no longer exist (removed by queue cleanup meanwhile).
    missing: int = 0

    @property
    def total(self) -> int:
        return self.applied + self.skipped + self.missing


@dataclass(frozen=True)
class Preview:
    """What a bulk action would do, for its confirmation: nothing has changed yet."""

    action: str
    #: Tasks selected, or matching the filter.
    total: int
    #: Of those, the ones in a state the action applies to.
    actionable: int

    @property
    def left_alone(self) -> int:
        return self.total - self.actionable


def _preview(action: str, counts: dict[str, int]) -> Preview:
    applies = APPLIES_TO[action]
    return Preview(action, sum(counts.values()), sum(n for s, n in counts.items() if s in applies))


def preview_selection(action: str, tasks: Sequence[TaskRow]) -> Preview:
    """``tasks``: from :func:`selected`."""
    return _preview(action, Counter(task.state for task in tasks))


def preview_matching(action: str, scope: TenantScope, filters: TaskFilter) -> Preview:
    """Counts the filter by state in one statement. Raises QueueNotFound, InvalidArgument."""
    return _preview(action, count_by_state(scope, filters))


def _check(principal: Actor, action: str) -> None:
    if action not in APPLIES_TO:
        raise ValueError(f"Unknown bulk action {action!r}; actions are cancel and retry.")
    principal.require(Action.OPERATE)


def actionable(action: str, filters: TaskFilter) -> TaskFilter | None:
    """``filters`` narrowed to the states ``action`` applies to; None when that is no state."""
    states = tuple(s for s in APPLIES_TO[action] if not filters.states or s in filters.states)
    return dataclasses.replace(filters, states=states) if states else None


def matching_tasks(
    scope: TenantScope, filters: TaskFilter, *, batch: int | None = None, using: str = "default"
) -> Iterator[TaskRow]:
    """Every task ``filters`` matches, newest first, fetched ``batch`` at a time by keyset.

    The keyset is the task id, so acting on the tasks of one page (which changes their
    state) cannot make the walk skip or repeat any.
    """
    cursor = None
    while True:
        page = list_tasks(scope, filters, cursor=cursor, limit=batch or BATCH, using=using)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _record(principal: Actor, action: str, task: TaskRow) -> None:
    audit.record(principal, action, queue=task.queue, task_id=task.task_id, tenant=task.tenant,
                 detail=dict(BULK))  # fmt: skip


def _refused(refused: AbsurdError, outcome: BulkOutcome) -> None:
    if "not found" in str(refused) or isinstance(refused, QueueNotFound):
        outcome.missing += 1  # removed by queue cleanup (or its queue dropped) meanwhile
    else:
        outcome.skipped += 1  # retry_task checks "failed" under its row lock


def _apply_page(principal: Actor, action: str, tasks: list[TaskRow]) -> BulkOutcome:
    """One transaction for the page. Each engine call is its own savepoint (engine._cursor),
    so a task that refuses leaves the transaction usable and is only counted."""
    outcome = BulkOutcome(action)
    with transaction.atomic():
        if action == "cancel":
            # The one cancel path's bulk form: audited only where it changed something.
            for state in task_actions.cancel_rows(principal, tasks, detail=BULK).values():
                if isinstance(state, AbsurdError):
                    _refused(state, outcome)
                elif state == "cancelled":
                    outcome.applied += 1
                else:
                    outcome.skipped += 1  # it ended between the listing and the cancel
        else:
            for task in tasks:
                try:
                    engine.retry_task(task.queue, task.task_id)
                except AbsurdError as refused:
                    _refused(refused, outcome)
                    continue
                _record(principal, action, task)
                outcome.applied += 1
    return outcome


def _chunks(tasks: Iterable[TaskRow], size: int) -> Iterator[list[TaskRow]]:
    chunk: list[TaskRow] = []
    for task in tasks:
        chunk.append(task)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def apply(principal: Actor, action: str, tasks: Iterable[TaskRow]) -> BulkOutcome:
    """Cancel or retry each of ``tasks`` (rows the principal's scope already let it see).

    Tasks in states the action does not apply to are skipped without a call. The rest
    are handled a page (``BATCH``) per transaction, each with its audit row.
    """
    _check(principal, action)
    outcome = BulkOutcome(action)
    for chunk in _chunks(tasks, BATCH):
        candidates = [task for task in chunk if task.state in APPLIES_TO[action]]
        outcome.skipped += len(chunk) - len(candidates)
        if not candidates:
            continue
        done = _apply_page(principal, action, candidates)
        outcome.applied += done.applied
        outcome.skipped += done.skipped
        outcome.missing += done.missing
    return outcome


def selected(scope: TenantScope, task_ids: Sequence[UUID]) -> list[TaskRow]:
    """The selected tasks, all of them visible to ``scope``; raises TaskNotFound otherwise.

    Another tenant's task id is not found, the same as one that does not exist, and
    then nothing is done to any of the selection.
    """
    ids = list(dict.fromkeys(task_ids))
    if len(ids) > MAX_SELECTION:
        raise ValueError(f"Select at most {MAX_SELECTION:,} tasks, or act on all matching.")
    rows = tasks_by_id(scope, ids)
    found = {row.task_id for row in rows}
    absent = [task_id for task_id in ids if task_id not in found]
    if absent:
        raise TaskNotFound(f"No task {absent[0]}.")
    return rows


def frozen(filters: TaskFilter, as_of: datetime) -> TaskFilter:
    """``filters`` limited to tasks spawned before ``as_of``: what a confirmation counted."""
    before = filters.spawned_before
    return dataclasses.replace(
        filters, spawned_before=as_of if before is None or as_of < before else before
    )


def apply_to_matching(
    principal: Actor, action: str, scope: TenantScope, filters: TaskFilter
) -> BulkOutcome:
    """Cancel or retry every task ``filters`` matches in ``scope``.

    Pass ``frozen(filters, confirmed_at)`` so tasks spawned after the confirmation are
    left alone. Raises QueueNotFound and InvalidArgument for a bad filter.
    """
    _check(principal, action)
    outcome = BulkOutcome(action)
    outcome.skipped = preview_matching(action, scope, filters).left_alone
    narrowed = actionable(action, filters)
    if narrowed is None:
        return outcome
    tasks = matching_tasks(scope, narrowed)
    applied = apply(principal, action, tasks)
    outcome.applied, outcome.missing = applied.applied, applied.missing
    outcome.skipped += applied.skipped
    return outcome
