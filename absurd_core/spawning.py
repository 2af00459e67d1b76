"""Spawn a registered task with its registered defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from absurd_core import engine
from absurd_core.errors import InvalidArgument
from absurd_core.registry import registry


def spawn(
    task_name: str,
    params: Any = None,
    *,
    tenant: str,
    queue: str | None = None,
    headers: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    max_attempts: int | None = None,
    retry_strategy: Mapping[str, Any] | None = None,
    cancellation: Mapping[str, Any] | None = None,
    using: str = "default",
) -> engine.SpawnResult:
    """Spawn ``task_name`` for ``tenant``.

    The tenant is stamped into ``headers.tenant`` here and nowhere else; a
    caller-supplied ``tenant`` header is refused so that clients can never
    choose their tenant.
    """
    spec = registry.get(task_name)
    if spec is None and queue is None:
        raise InvalidArgument(f"Task {task_name!r} is not registered; pass queue= to spawn it.")
    if spec is not None and queue is not None and queue != spec.queue:
        raise InvalidArgument(f"Task {task_name!r} runs on queue {spec.queue!r}, not {queue!r}.")
    if headers and "tenant" in headers:
        raise InvalidArgument("The tenant header is set by the server and cannot be supplied.")
    if not tenant:
        raise InvalidArgument("A tenant is required to spawn a task.")
    return engine.spawn_task(
        spec.queue if spec else queue,
        task_name,
        params,
        headers={**(headers or {}), "tenant": tenant},
        idempotency_key=idempotency_key,
        max_attempts=max_attempts or (spec.max_attempts if spec else None),
        retry_strategy=retry_strategy or (spec.retry if spec else None),
        cancellation=cancellation or (spec.cancellation if spec else None),
        using=using,
    )
