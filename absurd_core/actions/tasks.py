"""An operator's actions on one task: cancel, retry, emit the event it waits for.

Each looks the task up in the principal's scope first (another tenant's task is
TaskNotFound, as if it did not exist), checks the role, then calls the engine
and writes the audit row (absurd_core.audit.record) in one transaction, so an
action and its record commit together or not at all. The row is written first,
so its time precedes the transition the action causes. When the engine or the
task's state says no, ``ActionRefused`` carries a message for the operator and
nothing is changed or recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction

from absurd_core import audit, engine
from absurd_core.actors import Action, Actor
from absurd_core.errors import AbsurdError
from absurd_core.event_names import SYSTEM_EVENT_PREFIXES, in_tenant_namespace, is_system_event
from absurd_core.models import OperatorAction
from absurd_core.queries.task_selection import tasks_by_id
from absurd_core.queries.tasks import TaskDetail, find_task
from absurd_core.tenancy import ALL_TENANTS, TenantScope

#: The states a cancel applies to, in the engine's order.
CANCELLABLE_STATES = ("pending", "running", "sleeping")
CANCELLABLE = frozenset(CANCELLABLE_STATES)
TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: Events only a recorded decision may emit (absurd_core.event_names).
RESERVED_EVENT_PREFIXES = SYSTEM_EVENT_PREFIXES
#: How much of an emitted payload the audit row keeps.
PAYLOAD_PREVIEW_CHARS = 200


class ActionRefused(Exception):
    """The action does not apply to the task as it is now; nothing was changed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RetryOutcome:
    #: The retried task: the same id, or the new task's with ``spawn_new``.
    task_id: UUID
    attempt: int
    created: bool


def task_tenant(task: TaskDetail) -> str | None:
    headers = task.headers if isinstance(task.headers, dict) else {}
    tenant = headers.get("tenant")
    return tenant if isinstance(tenant, str) else None


def _operable(principal: Actor, task_id: UUID) -> TaskDetail:
    principal.require(Action.OPERATE)
    return find_task(principal.scope, task_id)


def _record(principal: Actor, action: str, task: TaskDetail, detail: dict) -> OperatorAction:
    # Written before the engine call, in its transaction: the row's time (the statement's)
    # then comes before the transition the action causes, as on the timeline it should.
    return audit.record(
        principal, action, queue=task.queue, task_id=task.task_id, tenant=task_tenant(task),
        detail=detail,
    )  # fmt: skip


@dataclass(frozen=True)
class CancelOutcome:
    """What one cancel did: ``cancelled`` is False when it changed nothing."""

    #: The task as it was before the cancel.
    task: TaskDetail
    cancelled: bool
    #: The task's state after the call: "cancelled", or the state it had already ended in.
    state: str


class _Unchanged(Exception):
    def __init__(self, state: str):
        self.state = state


def cancel_if_unfinished(
    principal: Actor, task_id: UUID, *, detail: dict | None = None
) -> CancelOutcome:
    """The one cancel path: cancel a pending, running or sleeping task, audited.

    A cancel that changes nothing (the task had ended, or ends before the engine's
    call) is a no-op: ``cancelled`` is False and nothing is recorded. ``detail`` is
    added to the audit row's (``{"via": "api"}`` for the JSON API). Raises TaskNotFound
    (also for another tenant's task) and PermissionDenied.
    """
    task = _operable(principal, task_id)
    if task.state not in CANCELLABLE:
        return CancelOutcome(task, False, task.state)
    try:
        with transaction.atomic():
            _record(principal, "cancel", task, {"from_state": task.state, **(detail or {})})
            engine.cancel_task(task.queue, task.task_id)
            # cancel_task leaves a task that finished meanwhile alone: the audit row
            # written above is rolled back with this transaction.
            state = engine.get_task_result(task.queue, task.task_id).state
            if state != "cancelled":
                raise _Unchanged(state)
    except _Unchanged as unchanged:
        return CancelOutcome(task, False, unchanged.state)
    return CancelOutcome(task, True, "cancelled")


def cancel(principal: Actor, task_id: UUID, *, detail: dict | None = None) -> TaskDetail:
    """Cancel a pending, running or sleeping task. Returns the task as it was before.

    :func:`cancel_if_unfinished`, with a no-op refused: ``ActionRefused`` says why.
    """
    outcome = cancel_if_unfinished(principal, task_id, detail=detail)
    if not outcome.cancelled:
        if outcome.task.state not in CANCELLABLE:
            raise ActionRefused(
                f"The task is {outcome.state}; only an unfinished task can be cancelled."
            )
        raise ActionRefused(f"The task is {outcome.state}; it finished before the cancel.")
    return outcome.task


def cancel_rows(principal: Actor, tasks: list, *, detail: dict | None = None) -> dict[UUID, str]:
    """Cancel many tasks the caller's scope already let it see, in the caller's transaction.

    The bulk form of :func:`cancel_if_unfinished`, same rules: each task that the call
    actually cancelled gets its audit row; one that had ended is left alone and not
    recorded. ``tasks``: rows with ``queue``, ``task_id`` and ``tenant``
    (absurd_core.queries.task_list.TaskRow). Each engine call is its own savepoint
    (engine._cursor), so a refusal leaves the transaction usable. Returns
    ``{task_id: state}`` after the calls ("cancelled" for the ones recorded), or the
    refusal (an ``AbsurdError``) for a task the engine refused.
    """
    principal.require(Action.OPERATE)
    called, results = [], {}
    for task in tasks:
        try:
            engine.cancel_task(task.queue, task.task_id)
            called.append(task)
        except AbsurdError as refused:
            results[task.task_id] = refused
    # This transaction holds the called tasks' row locks: their states are final.
    rows = tasks_by_id(TenantScope(ALL_TENANTS), [t.task_id for t in called]) if called else []
    states = {row.task_id: row.state for row in rows}
    for task in called:
        state = states.get(task.task_id)
        if state == "cancelled":
            audit.record(principal, "cancel", queue=task.queue, task_id=task.task_id,
                         tenant=task.tenant, detail=dict(detail or {}))  # fmt: skip
        results[task.task_id] = state
    return results


def retry(principal: Actor, task_id: UUID, *, spawn_new: bool = False) -> RetryOutcome:
    """Retry a failed task in place, or as a new task with the same params and headers."""
    task = _operable(principal, task_id)
    if task.state != "failed":
        raise ActionRefused(f"The task is {task.state}; only a failed task can be retried.")
    try:
        with transaction.atomic():
            action = _record(principal, "retry", task, {"spawn_new": spawn_new})
            result = engine.retry_task(task.queue, task.task_id, spawn_new=spawn_new)
            action.detail["attempt"] = result.attempt
            if spawn_new:
                action.detail["new_task_id"] = str(result.task_id)
            action.save(update_fields=["detail"])
    except AbsurdError as exc:
        raise ActionRefused(f"The engine refused the retry: {exc.message}") from None
    return RetryOutcome(result.task_id, result.attempt, spawn_new)


def reserved_event(name: str) -> bool:
    """True for events no operator may emit by hand (an approval's decision)."""
    return is_system_event(name)


def emit_refusal(principal: Actor, task: TaskDetail, event_name: str) -> str | None:
    """Why ``principal`` may not emit ``event_name`` for ``task``'s wait, or None.

    Checked against the tenant that owns the waiting task, not the principal's: a
    tenant's task waits for its tenant's events (``tenant:<slug>:...``), and a wait on
    any other name (another tenant's, or a raw name awaited with raw SQL or another
    client) is not this task's to satisfy: emitting it would wake or poison every
    other waiter of that name, queue-wide. A task without a tenant waits for raw
    names, which only platform principals may emit. System names: never.
    """
    if reserved_event(event_name):
        return "This task waits for an approval decision; decide the approval request instead."
    tenant = task_tenant(task)
    if tenant:
        if not in_tenant_namespace(tenant, event_name):
            return (
                f"This task waits for {event_name!r}, which is outside its tenant's namespace"
                f" (tenant:{tenant}:…): emitting it would reach other waiters of that name."
                " Only a platform operator may emit it (the API's raw emit)."
            )
        return None
    if not principal.platform:
        return (
            "This task has no tenant and waits for a raw event name: only platform operators"
            " may emit it."
        )
    return None


def payload_summary(payload: Any) -> dict[str, Any]:
    """What the audit row keeps of a payload: its type, size and the start of its JSON."""
    text = json.dumps(payload, ensure_ascii=False)
    summary: dict[str, Any] = {"type": type(payload).__name__, "bytes": len(text.encode())}
    summary["preview"] = text[:PAYLOAD_PREVIEW_CHARS]
    if len(text) > PAYLOAD_PREVIEW_CHARS:
        summary["preview"] += "…"
    return summary


def emit_wait_event(principal: Actor, task_id: UUID, event_name: str, payload: Any) -> str:
    """Emit the event the task waits for now, on its queue; returns the event name.

    ``event_name`` is what the operator saw on the page: if the task no longer
    waits for exactly that event, nothing is emitted. The name emitted is the
    one read from the engine, never one taken from the request.
    """
    task = _operable(principal, task_id)
    waiting_for = (task.wait or {}).get("event")
    if not waiting_for:
        raise ActionRefused(f"The task is {task.state} and waits for no event.")
    if waiting_for != event_name:
        raise ActionRefused(f"The task now waits for {waiting_for!r}, not {event_name!r}.")
    refusal = emit_refusal(principal, task, waiting_for)
    if refusal:
        raise ActionRefused(refusal)
    with transaction.atomic():
        detail = {"event": waiting_for, "payload": payload_summary(payload)}
        _record(principal, "emit_event", task, detail)
        engine.emit_event(task.queue, waiting_for, payload)
    return waiting_for
