"""Read-only queries over the engine's per-queue tables, always tenant-scoped.

Table names are built with ``psycopg.sql.Identifier`` from validated queue
names, never by string formatting.
"""

from __future__ import annotations

from psycopg import sql

from absurd_core.engine import TASK_STATES, list_queues
from absurd_core.queries.queues import QueueStats
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues


def queue_overview(scope: TenantScope, *, using: str = "default") -> list[QueueStats]:
    """Every queue with its task counts by state, for the tenants in ``scope``."""
    # Names come from absurd.queues, so queues made by absurdctl under names our
    # stricter validator refuses are still shown; Identifier keeps them safe.
    queues = list_queues(using=using)
    if not queues:
        return []
    where, where_params = tenant_filter(scope)
    query, params = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "select %s::text, state, count(*) from absurd.{} where {} group by state"
            ).format(sql.Identifier(f"t_{queue}"), where),
            [queue, *where_params],
        ),
    )
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        rows = cursor.fetchall()
    counts: dict[str, dict[str, int]] = {q: dict.fromkeys(TASK_STATES, 0) for q in queues}
    for queue, state, count in rows:
        counts[queue][state] = count
    return [QueueStats(name=q, counts=counts[q]) for q in queues]
