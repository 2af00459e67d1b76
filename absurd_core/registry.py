"""The task registry and the ``@task`` decorator.

A task is a function ``handler(params, ctx)`` where ``ctx`` is an absurd-sdk
``TaskContext`` (``ctx.step``, ``ctx.sleep_for``, ``ctx.await_event``,
``ctx.emit_event``, ``ctx.heartbeat``). Modules named ``tasks`` in installed
apps and plugins are imported at start-up, so decorating is registering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from absurd_core.errors import InvalidArgument
from absurd_core.queues import validate_queue_name

DEFAULT_QUEUE = "default"
DEFAULT_MAX_ATTEMPTS = 5

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    queue: str
    handler: Handler = field(compare=False)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry: Mapping[str, Any] | None = None
    cancellation: Mapping[str, Any] | None = None

    @property
    def module(self) -> str:
        return getattr(self.handler, "__module__", "?")


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}

    def register(self, spec: TaskSpec) -> TaskSpec:
        existing = self._tasks.get(spec.name)
        if existing is not None and existing.handler is not spec.handler:
            same_place = (existing.module, existing.handler.__qualname__) == (
                spec.module,
                spec.handler.__qualname__,
            )
            if not same_place:  # a re-import of the same module is fine
                raise InvalidArgument(
                    f"Task {spec.name!r} is registered twice: in {existing.module} "
                    f"and in {spec.module}."
                )
        self._tasks[spec.name] = spec
        return spec

    def get(self, name: str) -> TaskSpec | None:
        return self._tasks.get(name)

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
        return sorted({spec.queue for spec in self._tasks.values()})

    def for_queue(self, queue: str) -> dict[str, TaskSpec]:
        return {name: spec for name, spec in self._tasks.items() if spec.queue == queue}


registry = TaskRegistry()


def task(
    name: str | None = None,
    *,
    queue: str = DEFAULT_QUEUE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry: Mapping[str, Any] | None = None,
    cancellation: Mapping[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler(params, ctx)`` as a task.

    ``retry`` is an Absurd retry strategy: ``{"kind": "fixed" | "exponential" | "none",
    "base_seconds": ..., "factor": ..., "max_seconds": ...}``.
    """
    validate_queue_name(queue)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise InvalidArgument("max_attempts must be an integer >= 1.")

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
            )
        )
        handler.task_name = task_name  # type: ignore[attr-defined]
        return handler

    return decorator
