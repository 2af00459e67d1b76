"""Typed Python API over the ``absurd.*`` SQL functions the project uses.

Every call is schema-qualified, takes queue names as parameters (validated
first by :func:`absurd_core.queues.validate_queue_name`), runs on Django's
connection (so it joins the caller's ``transaction.atomic`` block when there
is one) and turns engine errors into :mod:`absurd_core.errors` exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from django.db import DatabaseError, connections, transaction

from absurd_core.errors import AbsurdError, InvalidArgument, TaskNotFound, translate
from absurd_core.queues import validate_queue_name
from absurd_core.read_routing import read_alias

TaskState = Literal["pending", "running", "sleeping", "completed", "failed", "cancelled"]
TASK_STATES: tuple[TaskState, ...] = (
    "pending",
    "running",
    "sleeping",
    "completed",
    "failed",
    "cancelled",
)
RETRY_KINDS = ("none", "fixed", "exponential")


@dataclass(frozen=True)
class SpawnResult:
    task_id: UUID
    run_id: UUID | None
    attempt: int | None
    #: False when an idempotency key matched an existing task.
    created: bool


@dataclass(frozen=True)
class RetryResult:
    task_id: UUID
    run_id: UUID
    attempt: int
    #: True when retry created a new task (``spawn_new``).
    created: bool


@dataclass(frozen=True)
class TaskResult:
    task_id: UUID
    state: TaskState
    result: Any
    failure: Any


@dataclass(frozen=True)
class QueuePolicy:
    queue_name: str
    storage_mode: str
    default_partition: str
    partition_lookahead: timedelta
    partition_lookback: timedelta
    cleanup_ttl: timedelta
    cleanup_limit: int
    detach_mode: str
    detach_min_age: timedelta


@dataclass(frozen=True)
class CleanupResult:
    queue_name: str
    tasks_deleted: int
    events_deleted: int


@contextmanager
def _cursor(using: str = "default") -> Iterator[Any]:
    # atomic() makes each call a savepoint inside the caller's transaction, so an
    # engine error (a bad argument, a missing queue) leaves that transaction usable.
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            yield cursor
    except DatabaseError as exc:
        raise translate(exc) from exc


def _json(value: Any) -> str:
    return json.dumps(value)


def load_json(value: Any) -> Any:
    """Decode a jsonb column: Django's connection returns jsonb as text."""
    return json.loads(value) if isinstance(value, str) else value


def fetch_all(sql: str, params: Sequence[Any] | Mapping[str, Any], using: str) -> list[tuple]:
    """Run one statement on ``using`` (a savepoint inside a transaction), engine errors typed."""
    with _cursor(using) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


# -- queues -----------------------------------------------------------------


def create_queue(
    name: str,
    *,
    storage_mode: Literal["unpartitioned", "partitioned"] = "unpartitioned",
    using: str = "default",
) -> None:
    """Create a queue (idempotent when the storage mode matches)."""
    validate_queue_name(name)
    if storage_mode not in ("unpartitioned", "partitioned"):
        raise InvalidArgument(f"Unsupported storage mode {storage_mode!r}.")
    fetch_all("select absurd.create_queue(%s, %s)", (name, storage_mode), using)
    # The event trigger already did this when our role may own one; this covers the rest.
    fetch_all("select absurd_control.install_queue(%s)", (name,), using)


def install_queue_sql(name: str | None = None, *, using: str = "default") -> int:
    """Install Absurd Control's per-queue SQL on one queue, or on all; returns how many changed."""
    if name is None:
        return fetch_all("select absurd_control.install_all_queues()", (), using)[0][0]
    validate_queue_name(name)
    return int(fetch_all("select absurd_control.install_queue(%s)", (name,), using)[0][0])


DEADLOCK_RETRIES = 3


def drop_queue(name: str, *, using: str = "default") -> None:
    """Drop a queue and all its tasks. Does nothing if it does not exist.

    absurd.drop_queue locks the queue's tables in a different order than
    absurd.claim_task reads them, so dropping a queue that a worker is claiming
    from can deadlock; PostgreSQL then aborts one side. If that is the drop, it
    is retried (the worker's claim went through or failed; either way it no
    longer holds the locks).
    """
    validate_queue_name(name)
    for attempt in range(DEADLOCK_RETRIES):
        try:
            fetch_all("select absurd.drop_queue(%s)", (name,), using)
            return
        except AbsurdError as exc:
            if exc.sqlstate != "40P01" or attempt == DEADLOCK_RETRIES - 1:
                raise


def list_queues(*, using: str = "default") -> list[str]:
    rows = fetch_all("select queue_name from absurd.list_queues()", (), read_alias(using))
    return [row[0] for row in rows]


def queue_exists(name: str, *, using: str = "default") -> bool:
    validate_queue_name(name)
    rows = fetch_all(
        "select 1 from absurd.queues where queue_name = %s", (name,), read_alias(using)
    )
    return bool(rows)


def get_queue_policy(name: str, *, using: str = "default") -> QueuePolicy | None:
    validate_queue_name(name)
    rows = fetch_all(
        "select queue_name, storage_mode, default_partition, partition_lookahead,"
        " partition_lookback, cleanup_ttl, cleanup_limit, detach_mode, detach_min_age"
        " from absurd.get_queue_policy(%s)",
        (name,),
        read_alias(using),
    )
    return QueuePolicy(*rows[0]) if rows else None


POLICY_KEYS = frozenset(
    {
        "partition_lookahead",
        "partition_lookback",
        "cleanup_ttl",
        "cleanup_limit",
        "detach_mode",
        "detach_min_age",
        "default_partition",
    }
)


def set_queue_policy(name: str, policy: Mapping[str, Any], *, using: str = "default") -> None:
    """Update maintenance policy keys (intervals as text, e.g. ``"7 days"``)."""
    validate_queue_name(name)
    unknown = set(policy) - POLICY_KEYS
    if unknown:
        raise InvalidArgument(f"Unsupported queue policy keys: {', '.join(sorted(unknown))}.")
    fetch_all("select absurd.set_queue_policy(%s, %s::jsonb)", (name, _json(dict(policy))), using)


# -- tasks ------------------------------------------------------------------


def spawn_options(
    *,
    headers: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    retry_strategy: Mapping[str, Any] | None = None,
    max_attempts: int | None = None,
    cancellation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build and check the ``p_options`` object of ``absurd.spawn_task``."""
    options: dict[str, Any] = {}
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise InvalidArgument("headers must be a JSON object.")
        options["headers"] = dict(headers)
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise InvalidArgument("idempotency_key must be a non-empty string.")
        options["idempotency_key"] = idempotency_key
    if retry_strategy is not None:
        if not isinstance(retry_strategy, Mapping):
            raise InvalidArgument("retry_strategy must be a JSON object.")
        if retry_strategy.get("kind", "none") not in RETRY_KINDS:
            raise InvalidArgument(f"retry_strategy.kind must be one of {', '.join(RETRY_KINDS)}.")
        options["retry_strategy"] = dict(retry_strategy)
    if max_attempts is not None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgument("max_attempts must be an integer >= 1.")
        options["max_attempts"] = max_attempts
    if cancellation:
        if not isinstance(cancellation, Mapping):
            raise InvalidArgument("cancellation must be a JSON object.")
        options["cancellation"] = dict(cancellation)
    return options


def spawn_task(
    queue: str,
    task_name: str,
    params: Any = None,
    *,
    headers: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    retry_strategy: Mapping[str, Any] | None = None,
    max_attempts: int | None = None,
    cancellation: Mapping[str, Any] | None = None,
    using: str = "default",
) -> SpawnResult:
    """Enqueue a task. With an idempotency key, a repeat returns the existing task."""
    validate_queue_name(queue)
    if not isinstance(task_name, str) or not task_name.strip():
        raise InvalidArgument("task_name must be a non-empty string.")
    options = spawn_options(
        headers=headers,
        idempotency_key=idempotency_key,
        retry_strategy=retry_strategy,
        max_attempts=max_attempts,
        cancellation=cancellation,
    )
    rows = fetch_all(
        "select task_id, run_id, attempt, created"
        " from absurd.spawn_task(%s, %s, %s::jsonb, %s::jsonb)",
        (queue, task_name, _json(params), _json(options)),
        using,
    )
    return SpawnResult(*rows[0])


def cancel_task(queue: str, task_id: UUID | str, *, using: str = "default") -> None:
    """Cancel a pending, running or sleeping task; a terminal task is left alone."""
    validate_queue_name(queue)
    fetch_all("select absurd.cancel_task(%s, %s)", (queue, _uuid(task_id)), using)


def retry_task(
    queue: str,
    task_id: UUID | str,
    *,
    max_attempts: int | None = None,
    spawn_new: bool = False,
    using: str = "default",
) -> RetryResult:
    """Retry a failed task in place, or as a new task with ``spawn_new``.

    The engine refuses any other state. The task's open dead letter is resolved
    by the lifecycle trigger, whoever calls retry_task.
    """
    validate_queue_name(queue)
    options: dict[str, Any] = {}
    if max_attempts is not None:
        options["max_attempts"] = max_attempts
    if spawn_new:
        options["spawn_new"] = True
    rows = fetch_all(
        "select task_id, run_id, attempt, created from absurd.retry_task(%s, %s, %s::jsonb)",
        (queue, _uuid(task_id), _json(options)),
        using,
    )
    return RetryResult(*rows[0])


def get_task_result(queue: str, task_id: UUID | str, *, using: str = "default") -> TaskResult:
    """State and terminal payload of a task; raises TaskNotFound."""
    validate_queue_name(queue)
    rows = fetch_all(
        "select task_id, state, result, failure_reason from absurd.get_task_result(%s, %s)",
        (queue, _uuid(task_id)),
        using,
    )
    if not rows:
        raise TaskNotFound(f"No task {task_id} in queue {queue!r}.")
    found_id, state, result, failure = rows[0]
    return TaskResult(found_id, state, load_json(result), load_json(failure))


# -- events -----------------------------------------------------------------


def emit_event(queue: str, name: str, payload: Any = None, *, using: str = "default") -> None:
    """Emit an event on a queue. The first emit of a name wins; later ones are ignored."""
    validate_queue_name(queue)
    if not isinstance(name, str) or not name:
        raise InvalidArgument("event name must be a non-empty string.")
    fetch_all("select absurd.emit_event(%s, %s, %s::jsonb)", (queue, name, _json(payload)), using)


# -- maintenance ------------------------------------------------------------


def cleanup(queue: str | None = None, *, using: str = "default") -> list[CleanupResult]:
    """Apply each queue's cleanup policy (TTL and limit); one queue or all."""
    if queue is not None:
        validate_queue_name(queue)
    rows = fetch_all(
        "select queue_name, tasks_deleted, events_deleted from absurd.cleanup_all_queues(%s)",
        (queue,),
        using,
    )
    return [CleanupResult(*row) for row in rows]


def _uuid(value: UUID | str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidArgument(f"{value!r} is not a valid task id (UUID).") from None


__all__ = [
    "TASK_STATES",
    "AbsurdError",
    "CleanupResult",
    "QueuePolicy",
    "RetryResult",
    "SpawnResult",
    "TaskResult",
    "cancel_task",
    "cleanup",
    "create_queue",
    "drop_queue",
    "emit_event",
    "get_queue_policy",
    "get_task_result",
    "list_queues",
    "queue_exists",
    "retry_task",
    "set_queue_policy",
    "spawn_task",
]
