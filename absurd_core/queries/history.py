"""Event-log reads, always tenant-scoped: a task's history."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from absurd_core.models import TaskEvent
from absurd_core.tenancy import TenantScope


def events(scope: TenantScope) -> QuerySet[TaskEvent]:
    return scope.restrict(TaskEvent.objects.all())


def task_history(scope: TenantScope, queue: str, task_id: UUID | str) -> list[TaskEvent]:
    """Every transition of one task, oldest first (the full set, never a page)."""
    return list(events(scope).filter(queue=queue, task_id=task_id).order_by("id"))
