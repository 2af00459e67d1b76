"""Absurd Control's engine layer. Public entry points:

- ``absurd_core.task``: decorator registering a task;
- ``absurd_core.spawn``: spawn a registered task for a tenant;
- ``absurd_core.engine``: typed calls to ``absurd.*`` functions.
"""

from absurd_core.registry import registry, task


def spawn(*args, **kwargs):
    from absurd_core.spawning import spawn as _spawn

    return _spawn(*args, **kwargs)


__all__ = ["registry", "spawn", "task"]
