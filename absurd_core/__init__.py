"""Absurd Control's engine layer: the facade other apps and plugins use.

- ``task`` / ``external_task`` / ``registry``: register tasks (``internal=True``: only our
  code spawns it) or declare one another worker runs (no handler); ``ScheduleSpec``: a
  recurring schedule declared with ``@task(schedules=[...])`` or by a plugin;
- ``spawn``: spawn a registered task for a tenant (the registered spawn gate applies);
- ``ChildFailed`` / ``ChildCancelled`` / ``ChildHandle`` / ``ChildResult``: child workflows
  (``ctx.spawn_child``, ``ctx.await_children``; docs/workflows.md);
- ``engine``: typed calls to ``absurd.*`` functions, with ``SpawnResult``;
- ``hooks``: where apps above the core register gates and totals at start-up;
- ``LifecycleEvent``: what lifecycle listeners receive;
- ``TenantScope`` / ``ALL_TENANTS``, ``Action`` / ``Actor``: scoping and actors;
- ``DeadLetter``, ``WORKER_HEARTBEAT_SECONDS``: model names, resolved on first use
  (models cannot be imported before the app registry is ready);
- platform counts for plugins (the metrics plugin), resolved on first use too:
  ``active_task_counts`` (absurd_core.queries.queues), ``open_dead_letter_counts``
  (absurd_core.queries.dead_letters), ``fleet_counts`` (absurd_core.queries.workers),
  ``schedule_stats`` (absurd_core.queries.schedules), and
  ``count_events``, the lifecycle feed counted (absurd_core.listeners).
"""

from absurd_core import engine, hooks
from absurd_core.actors import Action, Actor
from absurd_core.children import ChildCancelled, ChildFailed, ChildHandle, ChildResult
from absurd_core.declared_schedules import ScheduleSpec
from absurd_core.engine import SpawnResult
from absurd_core.errors import RateLimited
from absurd_core.listeners import LifecycleEvent, count_events
from absurd_core.registry import external_task, registry, task
from absurd_core.spawning import spawn
from absurd_core.tenancy import ALL_TENANTS, TenantScope

#: Names resolved on first use (their modules import models): name -> module.
_LAZY = {
    "DeadLetter": "absurd_core.models",
    "WORKER_HEARTBEAT_SECONDS": "absurd_core.models",
    "active_task_counts": "absurd_core.queries.queues",
    "open_dead_letter_counts": "absurd_core.queries.dead_letters",
    "fleet_counts": "absurd_core.queries.workers",
    "schedule_stats": "absurd_core.queries.schedules",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL_TENANTS",
    "WORKER_HEARTBEAT_SECONDS",
    "Action",
    "Actor",
    "ChildCancelled",
    "ChildFailed",
    "ChildHandle",
    "ChildResult",
    "DeadLetter",
    "LifecycleEvent",
    "RateLimited",
    "ScheduleSpec",
    "SpawnResult",
    "TenantScope",
    "active_task_counts",
    "count_events",
    "engine",
    "external_task",
    "fleet_counts",
    "hooks",
    "open_dead_letter_counts",
    "registry",
    "schedule_stats",
    "spawn",
    "task",
]
