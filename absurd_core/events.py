"""Events emitted on behalf of a tenant (the JSON API; later the dashboard).

Absurd's event names belong to a queue, not to a tenant, and the first emit of
a name wins for good: if tenants emitted raw names, one tenant could wake
another's waiting task, or emit a name first and hand every later waiter its
own payload. So an event a tenant emits is stored under
``tenant:<slug>:<name>``, and task code waits for it with
``ctx.await_tenant_event(name)``, which adds the same prefix from the task's
own ``headers.tenant``. Slugs cannot contain ``:``, so no tenant's names can
reach another's, nor ``approval:<id>``, which only a recorded decision emits.

Emitting is idempotent: the first emit of a name stores its payload and wakes
the waiters; a later one changes nothing, and the result says so and returns
the payload that won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from psycopg import sql

from absurd_core import engine
from absurd_core.errors import InvalidArgument, QueueNotFound
from tenants.scoping import TenantScope

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


def tenant_event_name(tenant: str, name: str) -> str:
    return f"tenant:{tenant}:{name}"


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
    if not engine.queue_exists(queue, using=using):
        raise QueueNotFound(f"No queue named {queue!r}.")
    event_name = tenant_event_name(scope.slug, name)
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
    return EmitResult(queue, name, event_name, True, payload)
