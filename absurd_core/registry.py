"""The task registry and the ``@task`` decorator.

A task is a function ``handler(params, ctx)`` where ``ctx`` is an absurd-sdk
``TaskContext`` (``ctx.step``, ``ctx.sleep_for``, ``ctx.await_event``,
``ctx.emit_event``, ``ctx.heartbeat``). Modules named ``tasks`` in installed
apps and plugins are imported at start-up, so decorating is registering.

Two kinds of task are special:

- *internal* (``@task(..., internal=True)``): spawned only by our own code
  (approval delivery, webhook delivery). The API and the dashboard answer for
  them exactly as for a name nobody registered, and the public schema does not
  list them: their params name objects a tenant must not be able to choose.
- *external* (``external_task(name, queue=...)``): run by a worker that is not
  ours (a TypeScript absurd-sdk worker, say). Declared by name, queue and
  defaults, with no Python handler: the API spawns it, ``runworker`` never runs
  it (it hands such runs back, see absurd_core/worker/executor.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from absurd_core.declared_schedules import schedule_specs
from absurd_core.errors import InvalidArgument
from absurd_core.queues import validate_queue_name

DEFAULT_QUEUE = "default"
DEFAULT_MAX_ATTEMPTS = 5

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    queue: str
    #: None for an external task: another worker runs it.
    handler: Handler | None = field(compare=False)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry: Mapping[str, Any] | None = None
    cancellation: Mapping[str, Any] | None = None
    internal: bool = False
    #: Where an external task was declared (a handler's module says it for the others).
    declared_in: str = field(default="?", compare=False)
    #: Recurring schedules declared with the task (absurd_core/declared_schedules.py).
    schedules: tuple = field(default=(), compare=False)

    @property
    def external(self) -> bool:
        return self.handler is None

    @property
    def is_async(self) -> bool:
        """An ``async def`` handler: runworker runs it on its event loop (async_executor.py)."""
        return self.handler is not None and inspect.iscoroutinefunction(self.handler)

    @property
    def module(self) -> str:
        if self.handler is None:
            return self.declared_in
        return getattr(self.handler, "__module__", "?")

    @property
    def spawnable(self) -> bool:
        """May a client (the API, the dashboard) spawn it? Internal tasks: never."""
        return not self.internal


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}

    def register(self, spec: TaskSpec) -> TaskSpec:
        existing = self._tasks.get(spec.name)
        if existing is not None and (existing.handler is not spec.handler or spec.external):
            same_place = (existing.module, _qualname(existing)) == (spec.module, _qualname(spec))
            if not same_place:  # a re-import of the same module is fine
                raise InvalidArgument(
                    f"Task {spec.name!r} is registered twice: in {existing.module} "
                    f"and in {spec.module}."
                )
        self._tasks[spec.name] = spec
        return spec

    def get(self, name: str) -> TaskSpec | None:
        return self._tasks.get(name)

    def spawnable(self, name: str) -> TaskSpec | None:
        """The task a client may spawn by this name; None for unknown and internal names
        alike, so that a client cannot tell the two apart."""
        spec = self._tasks.get(name)
        return spec if spec is not None and spec.spawnable else None

    def runnable(self, name: str, queue: str) -> TaskSpec | None:
        """The task ``runworker`` executes for a run of ``name`` claimed on ``queue``."""
        spec = self._tasks.get(name)
        if spec is None or spec.external or spec.queue != queue:
            return None
        return spec

    def __getitem__(self, name: str) -> TaskSpec:
        spec = self._tasks.get(name)
        if spec is None:
            raise KeyError(f"No task named {name!r} is registered.")
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(sorted(self._tasks.values(), key=lambda s: s.name))

    def queues(self) -> list[str]:
        """The queues ``runworker`` serves by default: those of tasks it runs."""
        return sorted({spec.queue for spec in self._tasks.values() if not spec.external})

    def for_queue(self, queue: str) -> dict[str, TaskSpec]:
        return {name: spec for name, spec in self._tasks.items() if spec.queue == queue}


def _qualname(spec: TaskSpec) -> str:
    return "" if spec.handler is None else spec.handler.__qualname__


registry = TaskRegistry()


def _check_defaults(queue: str, max_attempts: int) -> None:
    validate_queue_name(queue)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise InvalidArgument("max_attempts must be an integer >= 1.")


def task(
    name: str | None = None,
    *,
    queue: str = DEFAULT_QUEUE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry: Mapping[str, Any] | None = None,
    cancellation: Mapping[str, Any] | None = None,
    internal: bool = False,
    schedules: Iterable[Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler(params, ctx)`` as a task.

    An ``async def`` handler gets an async context (``await ctx.step(...)``,
    worker/async_context.py) and runs on the worker's event loop.

    ``retry`` is an Absurd retry strategy: ``{"kind": "fixed" | "exponential" | "none",
    "base_seconds": ..., "factor": ..., "max_seconds": ...}``. ``internal``: only our
    own code spawns it (see the module's docstring); a handler of an internal task that
    takes an object id from its params checks that the object is its tenant's.
    ``schedules``: recurring spawns of this task (``ScheduleSpec`` or dicts of its fields,
    docs/schedules.md), synced at migrate and worker start.
    """
    _check_defaults(queue, max_attempts)

    def decorator(handler: Handler) -> Handler:
        task_name = name or f"{handler.__module__}.{handler.__qualname__}"
        registry.register(
            TaskSpec(
                name=task_name,
                queue=queue,
                handler=handler,
                max_attempts=max_attempts,
                retry=dict(retry) if retry else None,
                cancellation=dict(cancellation) if cancellation else None,
                internal=bool(internal),
                schedules=schedule_specs(schedules, task_name),
            )
        )
        handler.task_name = task_name  # type: ignore[attr-defined]
        return handler

    return decorator


def external_task(
    name: str,
    *,
    queue: str,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry: Mapping[str, Any] | None = None,
    cancellation: Mapping[str, Any] | None = None,
) -> TaskSpec:
    """Declare a task that a worker other than ours runs (no Python handler).

    The API spawns it with these defaults; ``runworker`` never executes it. Declare it
    in an app's or plugin's ``tasks`` module, like ``@task``::

        external_task("billing.charge", queue="billing", max_attempts=3)
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgument("An external task needs a name.")
    _check_defaults(queue, max_attempts)
    caller = inspect.currentframe().f_back  # type: ignore[union-attr]
    return registry.register(
        TaskSpec(
            name=name,
            queue=queue,
            handler=None,
            max_attempts=max_attempts,
            retry=dict(retry) if retry else None,
            cancellation=dict(cancellation) if cancellation else None,
            declared_in=caller.f_globals.get("__name__", "?") if caller else "?",
        )
    )
