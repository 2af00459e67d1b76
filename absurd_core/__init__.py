"""Absurd Control's engine layer. Public entry points:

- ``absurd_core.task``: decorator registering a task (``internal=True``: only our code
  spawns it);
- ``absurd_core.external_task``: declare a task another worker runs (no handler);
- ``absurd_core.spawn``: spawn a registered task for a tenant;
- ``absurd_core.engine``: typed calls to ``absurd.*`` functions.
"""

from absurd_core.registry import external_task, registry, task


def spawn(*args, **kwargs):
    from absurd_core.spawning import spawn as _spawn

    return _spawn(*args, **kwargs)


__all__ = ["external_task", "registry", "spawn", "task"]
