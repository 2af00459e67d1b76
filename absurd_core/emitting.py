"""Emitting events for a tenant or, explicitly, for the platform (the JSON API).

Absurd's event names belong to a queue, not to a tenant, and the first emit of
a name wins for good: if tenants emitted raw names, one tenant could wake
another's waiting task, or emit a name first and hand every later waiter its
own payload. So an event a tenant emits is stored under
``tenant:<slug>:<name>``, the name a task of that tenant means when it calls
``ctx.await_event(name)`` (the context adds the same prefix from the task's own
``headers.tenant``; absurd_core.event_names has the rules). Slugs cannot contain
``:``, so no tenant's names can reach another's, nor a system name such as an
approval decision's, which only a recorded decision emits.

Platform principals may also emit a raw name (``emit_raw``): for tasks without a
tenant, and for workers of other Absurd clients that await names of their own.
System names stay refused there too.

Emitting is idempotent: the first emit of a name stores its payload and wakes
the waiters; a later one changes nothing, and the result says so and returns
the payload that won. ``woken`` counts the tasks the emit woke, read in the
emit's transaction from the ``woken`` rows the engine's task tables log
(absurd_core/sql/lifecycle.sql), so it is exact under concurrent waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from psycopg import sql

from absurd_core import engine
from absurd_core.errors import InvalidArgument, QueueNotFound
from absurd_core.event_names import is_system_event, tenant_event_name
from absurd_core.tenancy import TenantScope

__all__ = ["EmitResult", "emit_for_tenant", "emit_raw", "tenant_event_name"]

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class EmitResult:
    queue: str
    name: str
    #: The name the engine stores and waiters wait for.
    event_name: str
    #: False when the name had been emitted before; nothing changed then.
    first: bool
    #: The payload waiters receive: this emit's, or the earlier one's.
    payload: Any
    #: How many waiting tasks this emit woke (0 when it was not the first).
    woken: int = 0


class SystemEventName(InvalidArgument):
    """A system event name (an approval's): only the platform's own code emits those."""


def validate_event_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgument("The event name must be a non-empty string.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"The event name is longer than {MAX_NAME_LENGTH} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidArgument("The event name contains control characters.")
    return name


def emit_for_tenant(
    scope: TenantScope, queue: str, name: str, payload: Any = None, *, using: str = "default"
) -> EmitResult:
    """Emit ``name`` in the tenant's namespace on ``queue``.

    Raises QueueNotFound and InvalidArgument (a bad name, or all tenants).
    """
    if scope.is_all:
        raise InvalidArgument("Events are emitted for one tenant; choose a tenant first.")
    validate_event_name(name)
    return _emit(queue, name, tenant_event_name(scope.slug, name), payload, using)


def emit_raw(queue: str, name: str, payload: Any = None, *, using: str = "default") -> EmitResult:
    """Emit ``name`` as it is: for platform principals only (the caller checks).

    Raises QueueNotFound, InvalidArgument, and SystemEventName for a system name.
    """
    validate_event_name(name)
    if is_system_event(name):
        raise SystemEventName(
            f"{name!r} is a system event name: only the platform's own code emits it."
        )
    return _emit(queue, name, name, payload, using)


def _emit(queue: str, name: str, event_name: str, payload: Any, using: str) -> EmitResult:
    if not engine.queue_exists(queue, using=using):
        raise QueueNotFound(f"No queue named {queue!r}.")
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # Serialises emits of one name, so exactly one caller is told it was first.
        cursor.execute(
            "select pg_advisory_xact_lock(hashtext(%s))",
            [f"absurd_control.emit:{queue}:{event_name}"],
        )
        # A row with an SQL NULL payload is await_event's "not emitted yet" sentinel.
        query = sql.SQL(
            "select payload from absurd.{} where event_name = %s and payload is not null"
        ).format(sql.Identifier(f"e_{queue}"))
        cursor.execute(query.as_string(cursor.connection), [event_name])
        earlier = cursor.fetchone()
        if earlier is not None:
            return EmitResult(queue, name, event_name, False, engine.load_json(earlier[0]))
        engine.emit_event(queue, event_name, payload, using=using)
        # The tasks emit_event moved from sleeping to pending, in this transaction.
        cursor.execute(
            "select count(*) from public.absurd_control_task_event"
            " where txid = pg_current_xact_id() and queue = %s and kind = 'woken'"
            " and reason = 'event ' || %s",
            [queue, event_name],
        )
        woken = cursor.fetchone()[0]
    return EmitResult(queue, name, event_name, True, payload, woken)
