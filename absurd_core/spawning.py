"""Spawn a registered task with its registered defaults."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connections, transaction

from absurd_core import engine
from absurd_core.delayed_starts import DELAYED_SPAWN_FROM, start_delay
from absurd_core.errors import AbsurdError, InvalidArgument, translate
from absurd_core.hooks import SpawnGate, spawn_gate
from absurd_core.queues import validate_queue_name
from absurd_core.registry import registry

BARE_SPAWN_SQL = (
    "select s.task_id, s.run_id, s.attempt, s.created"
    " from absurd.spawn_task(%(queue)s, %(task)s, %(params)s::jsonb, %(options)s::jsonb) s"
)


def gated_spawn_sql(gate: SpawnGate) -> str:
    """The spawn statement with ``gate`` folded in: built from constants, values travel only
    as parameters. The gate runs only when the statement created a task (a repeated
    idempotency key costs nothing) and raises its SQLSTATE when it refuses, so the
    statement spawns nothing then (tenants' gate: tenants/sql/spawn_gate.sql)."""
    return (
        "select s.task_id, s.run_id, s.attempt, s.created,"  # noqa: S608
        " case when s.created then " + gate.sql + " end"
        " from absurd.spawn_task(%(queue)s, %(task)s, %(params)s::jsonb, %(options)s::jsonb) s"
    )


def __getattr__(name: str) -> str:
    # ``SPAWN_SQL``: the statement spawn() runs, with the registered gate (bench, tests).
    if name == "SPAWN_SQL":
        gate = spawn_gate()
        return gated_spawn_sql(gate) if gate else BARE_SPAWN_SQL
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_gated: tuple[SpawnGate, str] | None = None


def _gated_sql(gate: SpawnGate) -> str:
    """The gated statement, built once per gate: the same text on every call."""
    global _gated
    if _gated is None or _gated[0] is not gate:
        _gated = (gate, gated_spawn_sql(gate))
    return _gated[1]


_SPAWN_FROM = "absurd.spawn_task(%(queue)s, %(task)s, %(params)s::jsonb, %(options)s::jsonb)"


def _delayed(sql: str) -> str:
    """The same statement spawning through absurd_control.spawn_task_after (delayed_starts)."""
    return sql.replace(_SPAWN_FROM, DELAYED_SPAWN_FROM)


def _spawn_row(sql: str, values: dict, using: str) -> tuple:
    """Run the one spawn statement: in autocommit, its own transaction (no BEGIN or
    COMMIT round trips); inside the caller's transaction, a savepoint that keeps it
    usable when the statement fails."""
    connection = connections[using]
    if connection.in_atomic_block:
        return engine.fetch_all(sql, values, using)[0]
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            return cursor.fetchone()
    except DatabaseError as exc:
        raise translate(exc) from exc


def tenant_idempotency_key(tenant: str, key: str | None) -> str | None:
    """The engine's key for a tenant's idempotency key: ``<tenant>/<key>``.

    Absurd's keys are unique per queue, not per tenant: unprefixed, tenant B
    reusing a key of tenant A would get A's task back (and could take A's keys
    in advance). Slugs contain no ``/``, so prefixed keys of two tenants never meet.
    """
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise InvalidArgument("idempotency_key must be a non-empty string.")
    return f"{_key_prefix(tenant)}/{key}"


#: Tenants longer than this (only raw spawns carry them: slugs are short) are named in keys
#: by a digest, so the engine's unique index on keys can still hold the key.
LONGEST_TENANT_IN_KEYS = 200


def _key_prefix(tenant: str) -> str:
    if len(tenant) <= LONGEST_TENANT_IN_KEYS:
        return tenant
    # ":" is in no slug, so a digest never reads as another tenant's prefix.
    return "sha256:" + hashlib.sha256(tenant.encode()).hexdigest()


def tenant_key_of(tenant: str | None, engine_key: str | None) -> str | None:
    """The key the tenant gave, from the engine's ``<tenant>/<key>``."""
    prefix = f"{_key_prefix(tenant)}/" if tenant else None
    if engine_key and prefix and engine_key.startswith(prefix):
        return engine_key[len(prefix) :]
    return engine_key


def _checked_spec(task_name: str, queue: str | None, headers, tenant: str):
    """The registered task (None for an unregistered name spawned onto ``queue``), after the
    checks spawn() and spawn_many() share: the queue agrees, and the tenant is the server's."""
    spec = registry.get(task_name)
    if spec is None and queue is None:
        raise InvalidArgument(f"Task {task_name!r} is not registered; pass queue= to spawn it.")
    if spec is not None and queue is not None and queue != spec.queue:
        raise InvalidArgument(f"Task {task_name!r} runs on queue {spec.queue!r}, not {queue!r}.")
    if headers and "tenant" in headers:
        raise InvalidArgument("The tenant header is set by the server and cannot be supplied.")
    if not tenant:
        raise InvalidArgument("A tenant is required to spawn a task.")
    return spec


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
    run_after: datetime | timedelta | None = None,
    using: str = "default",
) -> engine.SpawnResult:
    """Spawn ``task_name`` for ``tenant``.

    The tenant is stamped into ``headers.tenant`` here and nowhere else; a
    caller-supplied ``tenant`` header is refused so that clients can never
    choose their tenant. The registered spawn gate applies (absurd_core/hooks.py;
    tenants' spawn rate): when it refuses, its exception (RateLimited) is raised and
    nothing is spawned.

    ``run_after``: a delayed start, an aware datetime or a timedelta from the engine's
    clock (absurd_core/delayed_starts.py). The task stays pending until then.
    """
    spec = _checked_spec(task_name, queue, headers, tenant)
    options = engine.spawn_options(
        headers={**(headers or {}), "tenant": tenant},
        idempotency_key=tenant_idempotency_key(tenant, idempotency_key),
        max_attempts=max_attempts or (spec.max_attempts if spec else None),
        retry_strategy=retry_strategy or (spec.retry if spec else None),
        cancellation=cancellation or (spec.cancellation if spec else None),
    )
    target = validate_queue_name(spec.queue if spec else queue)
    delay = start_delay(run_after, options.get("cancellation"))
    values = {
        "queue": target,
        "task": task_name,
        "params": json.dumps(params),
        "options": json.dumps(options),
        "tenant": tenant,
    }
    bare = BARE_SPAWN_SQL
    if delay is not None:
        values.update(delay)
        bare = _delayed(bare)
    gate = spawn_gate()
    if gate is None:
        return engine.SpawnResult(*_spawn_row(bare, values, using)[:4])
    try:
        gated = _gated_sql(gate)
        row = _spawn_row(gated if delay is None else _delayed(gated), values, using)
    except AbsurdError as refused:
        if refused.sqlstate == gate.refused_sqlstate:
            raise gate.refused(tenant, refused) from None
        # Something else failed. Without the gate, in a transaction: if the engine fails
        # again, that is the error to raise; if it succeeds, the gate's storage failed,
        # and the gate decides whether this spawn stands (raising rolls it back).
        with transaction.atomic(using=using):
            row = engine.fetch_all(bare, values, using)[0]
            gate.failed(tenant, refused)
    return engine.SpawnResult(*row[:4])


def spawn_many(
    task_name: str,
    params_list: list[Any],
    *,
    tenant: str,
    idempotency_keys: list[str],
    headers: Mapping[str, Any] | None = None,
    queue: str | None = None,
    max_attempts: int | None = None,
    retry_strategy: Mapping[str, Any] | None = None,
    cancellation: Mapping[str, Any] | None = None,
    using: str = "default",
) -> list[engine.SpawnResult]:
    """Spawn ``task_name`` once per params, all in one statement, in order (child fan-out).

    The same rules as spawn(): the tenant is stamped here, the registered spawn gate runs
    for every task the statement creates (a refusal spawns none of them), and each
    task has its own idempotency key, prefixed with the tenant.
    """
    spec = _checked_spec(task_name, queue, headers, tenant)
    if len(idempotency_keys) != len(params_list):
        raise InvalidArgument("spawn_many needs one idempotency key per params.")
    if not params_list:
        return []
    common = {
        "headers": {**(headers or {}), "tenant": tenant},
        "max_attempts": max_attempts or (spec.max_attempts if spec else None),
        "retry_strategy": retry_strategy or (spec.retry if spec else None),
        "cancellation": cancellation or (spec.cancellation if spec else None),
    }
    batch = [
        {
            "params": params,
            "options": engine.spawn_options(
                idempotency_key=tenant_idempotency_key(tenant, key), **common
            ),
        }
        for params, key in zip(params_list, idempotency_keys, strict=True)
    ]
    gate = spawn_gate()
    gated = " case when s.created then " + gate.sql + " end" if gate else " null"
    statement = (
        "select s.task_id, s.run_id, s.attempt, s.created," + gated + " from"
        " jsonb_array_elements(%(batch)s::jsonb) with ordinality b(item, i)"
        " cross join lateral absurd.spawn_task("
        "%(queue)s, %(task)s, b.item->'params', b.item->'options') s"
        " order by b.i"
    )
    values = {
        "queue": validate_queue_name(spec.queue if spec else queue),
        "task": task_name,
        "batch": json.dumps(batch),
        "tenant": tenant,
    }
    try:
        with transaction.atomic(using=using):
            rows = engine.fetch_all(statement, values, using)
    except AbsurdError as refused:
        if gate is not None and refused.sqlstate == gate.refused_sqlstate:
            raise gate.refused(tenant, refused) from None
        raise
    return [engine.SpawnResult(*row[:4]) for row in rows]
