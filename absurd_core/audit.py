"""The audit trail of operator actions: who cancelled, retried, emitted, discarded, paused.

``record`` is called by the dashboard and the API in the transaction of the action
itself, so an action and its record commit together. ``task_timeline`` merges a
task's recorded actions into its event-log history for the task page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from absurd_core.actors import Actor
from absurd_core.models import OperatorAction
from absurd_core.queries.history import task_history
from absurd_core.tenancy import TenantScope


def record(
    principal: Actor,
    action: str,
    *,
    queue: str | None = None,
    task_id: UUID | str | None = None,
    tenant: str | None = None,
    detail: Any = None,
) -> OperatorAction:
    """One audit row. ``tenant``: the affected object's tenant (default: the principal's)."""
    return OperatorAction.objects.create(
        tenant=tenant or principal.scope.slug,
        actor=principal.label,
        action=action,
        queue=queue,
        task_id=task_id,
        detail=detail,
    )


def actions_for(scope: TenantScope, queue: str, task_id: UUID | str) -> list[OperatorAction]:
    queryset = OperatorAction.objects.filter(queue=queue, task_id=task_id)
    return list(scope.restrict(queryset).order_by("id"))


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    #: "transition" (the event log) or "action" (an operator's).
    source: str
    kind: str
    actor: str | None
    from_state: str | None
    to_state: str | None
    reason: str | None
    detail: Any
    attempt: int | None


def task_timeline(scope: TenantScope, queue: str, task_id: UUID | str) -> list[TimelineEntry]:
    """The task's transitions and the operators' actions on it, oldest first."""
    entries = [
        TimelineEntry(e.created_at, "transition", e.kind, None, e.from_state, e.to_state,
                      e.reason, e.detail, e.attempt)
        for e in task_history(scope, queue, task_id)
    ] + [
        TimelineEntry(a.created_at, "action", a.action, a.actor, None, None, None, a.detail, None)
        for a in actions_for(scope, queue, task_id)
    ]  # fmt: skip
    return sorted(entries, key=lambda entry: entry.at)
