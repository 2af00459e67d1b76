"""Absurd Control's engine layer: the facade other apps and plugins use.

- ``task`` / ``external_task`` / ``registry``: register tasks (``internal=True``: only our
  code spawns it) or declare one another worker runs (no handler);
- ``spawn``: spawn a registered task for a tenant (the registered spawn gate applies);
- ``ChildFailed`` / ``ChildCancelled`` / ``ChildHandle`` / ``ChildResult``: child workflows
  (``ctx.spawn_child``, ``ctx.await_children``; docs/workflows.md);
- ``engine``: typed calls to ``absurd.*`` functions, with ``SpawnResult``;
- ``hooks``: where apps above the core register gates and totals at start-up;
- ``LifecycleEvent``: what lifecycle listeners receive;
- ``TenantScope`` / ``ALL_TENANTS``, ``Action`` / ``Actor``: scoping and actors;
- ``DeadLetter``, ``WORKER_HEARTBEAT_SECONDS``: model names, resolved on first use
  (models cannot be imported before the app registry is ready).
"""

from absurd_core import engine, hooks
from absurd_core.actors import Action, Actor
from absurd_core.children import ChildCancelled, ChildFailed, ChildHandle, ChildResult
from absurd_core.engine import SpawnResult
from absurd_core.errors import RateLimited
from absurd_core.listeners import LifecycleEvent
from absurd_core.registry import external_task, registry, task
from absurd_core.spawning import spawn
from absurd_core.tenancy import ALL_TENANTS, TenantScope

_MODEL_NAMES = frozenset({"DeadLetter", "WORKER_HEARTBEAT_SECONDS"})


def __getattr__(name: str):
    if name in _MODEL_NAMES:
        from absurd_core import models

        return getattr(models, name)
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
    "SpawnResult",
    "TenantScope",
    "engine",
    "external_task",
    "hooks",
    "registry",
    "spawn",
    "task",
]
