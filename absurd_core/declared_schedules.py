"""Schedules declared in code: ``@task(..., schedules=[...])`` and a plugin's ``schedules``.

They are synced into ``absurd_control_schedule`` (``code_owned``) after ``migrate``
(a post_migrate receiver) and when a worker starts. The sync takes a transaction-scoped
advisory lock, so N workers starting together sync one after another, and it writes
nothing for a schedule whose declaration did not change: the others find everything
equal. An operator's pause survives a sync (``enabled`` is the operator's); a changed
expression, interval or zone re-plans the next slot. A declared schedule that
disappears from code is left as it was, still code-owned: an operator pauses it.

The tenant of a declared schedule is its ``tenant`` or the ``SCHEDULES_TENANT`` setting.
The sync lives in absurd_core/schedule_sync.py (this module is imported by the registry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from absurd_core.errors import InvalidArgument


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    cron: str | None = None
    every_seconds: int | None = None
    #: Filled in by ``@task``; a plugin's schedules name their task.
    task: str | None = None
    tenant: str | None = None
    params: Any = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"
    catch_up: str = "skip"
    catch_up_cap: int = 100
    jitter_seconds: int = 0


def schedule_specs(declared: Iterable[Any] | None, task_name: str | None = None) -> tuple:
    """``declared`` (ScheduleSpec objects or dicts of its fields) as ScheduleSpecs."""
    specs = []
    for item in declared or ():
        if isinstance(item, Mapping):
            try:
                item = ScheduleSpec(**item)
            except TypeError as exc:
                raise InvalidArgument(f"Invalid schedule declaration: {exc}") from None
        if not isinstance(item, ScheduleSpec):
            raise InvalidArgument("schedules holds ScheduleSpec objects or dicts.")
        if task_name is not None:
            item = replace(item, task=task_name)
        specs.append(item)
    return tuple(specs)


__all__ = ["ScheduleSpec", "schedule_specs"]
