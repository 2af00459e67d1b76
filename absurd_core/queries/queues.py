"""What the dashboard overview shows, per queue and in total, tenant-scoped.

- ``QueueStats``: the one type a queue is read as (overview, Queues page, API,
  ``queue_overview``); ``list_queue_info`` and ``get_queue_info`` (with its cleanup
  policy) are the API's reads;
- ``overview_stats``: per queue, task counts by state (``estimated`` when they
  are estimates rather than exact counts), the oldest pending task's spawn time
  (the backlog's age) and whether the queue is paused;
- ``throughput``: completed and failed tasks per minute over the last hour, from
  the event log, for the sparklines;
- ``totals``: open dead letters, workers online and approvals awaiting a decision.

Counting, and why some counts are estimates (docs/dashboard-performance.md):
the overview refreshes every 2 seconds, and an exact ``count(*)`` by state over
a million tasks reads the whole table (~50 ms per queue on a 2-core machine, and
more under load). So each (queue, state) is counted exactly up to
``EXACT_COUNT_LIMIT`` rows (a LIMITed index scan: bounded cost however large
the queue), and a count above that is the planner's estimate for the same
condition (``pg_class.reltuples`` and the column statistics ANALYZE keeps,
including the statistics of our ``(tenant, state, task_id)`` index expression),
never below the limit. Small counts, the ones where a difference of one
matters (3 failed, 0 running), are always exact; a large count is shown as an
estimate ("~330k"), which is what an operator reads it as anyway.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone
from psycopg import sql

from absurd_core import engine, hooks
from absurd_core.engine import TASK_STATES, list_queues
from absurd_core.errors import QueueNotFound
from absurd_core.index_keys import KEY_CHARS
from absurd_core.models import DeadLetter, TaskEvent, Worker
from absurd_core.queues import Pause, pauses
from absurd_core.read_routing import connections, read_alias
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues


@dataclass(frozen=True)
class QueueStats:
    """One queue as read, the one type for every surface (overview, Queues page, API,
    ``queue_overview``). Each read fills what it reads; the rest keeps its default."""

    name: str
    #: {state: count} in the engine's state order: the scope's own tasks.
    counts: dict[str, int]
    #: True when ``counts`` are estimates (huge tables), shown as such.
    estimated: bool = False
    oldest_pending_at: datetime | None = None
    paused: bool = False
    #: Who paused it and when (None when not paused).
    pause: Pause | None = None
    #: The cleanup policy, when the read asked for it.
    cleanup_ttl: timedelta | None = None
    cleanup_limit: int | None = None
    #: False for a name made outside the app (absurdctl) that our stricter validator
    #: refuses: it is listed, but the dashboard offers no actions on it.
    manageable: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, state: str) -> int:
        return self.counts.get(state, 0)

    @property
    def state_counts(self) -> list[tuple[str, int]]:
        """(state, count) in the engine's state order."""
        return [(state, int(self.counts.get(state, 0))) for state in TASK_STATES]

    @property
    def paused_at(self) -> datetime | None:
        return self.pause.paused_at if self.pause else None

    @property
    def paused_by(self) -> str | None:
        return self.pause.paused_by if self.pause else None


def _oldest_pending(scope: TenantScope, queue: str, using: str) -> datetime | None:
    where, params = tenant_filter(scope)
    query = sql.SQL(
        "select enqueue_at from absurd.{} where state = 'pending' and {} order by task_id limit 1"
    ).format(sql.Identifier(f"t_{queue}"), where)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        row = cursor.fetchone()
    return row[0] if row else None


#: Per (queue, state), counts up to this many tasks are exact; larger ones are estimates.
EXACT_COUNT_LIMIT = 1000
#: The same for one tenant's counts. Lower: the tenant is an expression over the
#: ``headers`` column, so PostgreSQL cannot count from the index alone and fetches
#: each counted row from the table (all tenants: an index-only skip scan).
TENANT_EXACT_COUNT_LIMIT = 200


def _capped_counts(
    scope: TenantScope, queues: list[str], limit: int, using: str
) -> dict[tuple[str, str], int]:
    """{(queue, state): count}, each count stopping at ``limit + 1``. One statement.

    Each count is a LIMITed scan of our (tenant, state, task_id) index (a skip scan
    over the tenants when the scope is all tenants), so its cost is bounded by the
    limit, not by the queue's size.
    """
    where, where_params = tenant_filter(scope)
    query, params = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "select %s::text, s.state, (select count(*) from (select 1 from absurd.{}"
                " where state = s.state and {} limit %s) c) from unnest(%s::text[]) s(state)"
            ).format(sql.Identifier(f"t_{queue}"), where),
            [queue, *where_params, limit + 1, list(TASK_STATES)],
        ),
    )
    # The scans must be index scans that stop at the limit. Left to itself, the planner
    # may pick a sequential scan for a common state, betting that matching rows are
    # spread evenly through the table; but pending and running tasks are the newest,
    # at the table's end, so that bet reads the whole table. (A bitmap scan would
    # read every matching index entry before the limit applies.)
    # The settings are local to the transaction, and put back after the statement in
    # case the caller's transaction (ATOMIC_REQUESTS, a test) goes on after it.
    with transaction.atomic(using=read_alias(using)), connections[using].cursor() as cursor:
        cursor.execute(
            "select current_setting('enable_seqscan'), current_setting('enable_bitmapscan'),"
            " set_config('enable_seqscan', 'off', true),"
            " set_config('enable_bitmapscan', 'off', true)"
        )
        seqscan, bitmapscan, _, _ = cursor.fetchone()
        cursor.execute(query.as_string(cursor.connection), params)
        counts = {(queue, state): count for queue, state, count in cursor.fetchall()}
        cursor.execute(
            "select set_config('enable_seqscan', %s, true),"
            " set_config('enable_bitmapscan', %s, true)",
            [seqscan, bitmapscan],
        )
    return counts


def _estimate(scope: TenantScope, queue: str, state: str, using: str) -> int:
    """The planner's row estimate for the tasks of ``scope`` in ``state`` (no rows read)."""
    # The tenant prefix only: the planner has statistics for it (it is the index's
    # expression), but none for the full value, whose equality it would guess at 0.5%.
    # Tenants sharing their first KEY_CHARS characters are counted together: an estimate.
    where, where_params = sql.SQL("true"), []
    if not scope.is_all:
        where = sql.SQL("left(headers->>'tenant', {}) = %s").format(sql.Literal(KEY_CHARS))
        where_params = [scope.slug[:KEY_CHARS]]
    query = sql.SQL("explain (format json) select 1 from absurd.{} where state = %s and {}").format(
        sql.Identifier(f"t_{queue}"), where
    )
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), [state, *where_params])
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def overview_stats(
    scope: TenantScope, *, using: str = "default", exact_limit: int | None = None
) -> list[QueueStats]:
    """Every queue's counts by state for ``scope``; see the module docstring for estimates.

    ``exact_limit`` overrides ``EXACT_COUNT_LIMIT`` and ``TENANT_EXACT_COUNT_LIMIT``
    (tests; 0 estimates every non-zero count).
    """
    if exact_limit is not None:
        limit = exact_limit
    else:
        limit = EXACT_COUNT_LIMIT if scope.is_all else TENANT_EXACT_COUNT_LIMIT
    queues = list_queues(using=using)
    if not queues:
        return []
    paused = pauses(using=using)
    capped = _capped_counts(scope, queues, limit, using)
    stats = []
    for queue in queues:
        counts, estimated = {}, False
        for state in TASK_STATES:
            count = capped.get((queue, state), 0)
            if count > limit:
                count = max(_estimate(scope, queue, state, using), limit + 1)
                estimated = True
            counts[state] = count
        stats.append(
            QueueStats(
                name=queue,
                counts=counts,
                estimated=estimated,
                oldest_pending_at=_oldest_pending(scope, queue, using),
                paused=queue in paused,
                pause=paused.get(queue),
            )
        )
    return stats


def with_policy(stats: QueueStats, *, using: str = "default") -> QueueStats:
    """``stats`` with its queue's cleanup policy read from the engine."""
    policy = engine.get_queue_policy(stats.name, using=using)
    return dataclasses.replace(
        stats, cleanup_ttl=policy.cleanup_ttl, cleanup_limit=policy.cleanup_limit
    )


def list_queue_info(scope: TenantScope, *, using: str = "default") -> list[QueueStats]:
    """Every queue's stats for ``scope`` (no policies: one read for all)."""
    return overview_stats(scope, using=using)


def get_queue_info(scope: TenantScope, name: str, *, using: str = "default") -> QueueStats:
    """One queue's stats with its policy. Raises QueueNotFound (and InvalidQueueName for
    a name no queue can have)."""
    if not engine.queue_exists(name, using=using):
        raise QueueNotFound(f"No queue named {name!r}.")
    stats = next((s for s in overview_stats(scope, using=using) if s.name == name), None)
    if stats is None:  # dropped between the two reads
        raise QueueNotFound(f"No queue named {name!r}.")
    return with_policy(stats, using=using)


def throughput(
    scope: TenantScope, *, minutes: int = 60, now: datetime | None = None
) -> dict[str, dict[str, list[int]]]:
    """{queue: {"completed": [...], "failed": [...]}}, one count per minute, oldest first."""
    now = (now or timezone.now()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = now - timedelta(minutes=minutes)
    rows = TaskEvent.objects.filter(
        created_at__gte=start,
        kind__in=["completed", "failed"],
        to_state__in=["completed", "failed"],
    )
    rows = scope.restrict(rows)
    rows = (
        rows.annotate(minute=TruncMinute("created_at"))
        .values("queue", "kind", "minute")
        .annotate(n=Count("id"))
    )
    series: dict[str, dict[str, list[int]]] = {}
    for row in rows:
        queue = series.setdefault(
            row["queue"], {"completed": [0] * minutes, "failed": [0] * minutes}
        )
        index = int((row["minute"] - start).total_seconds() // 60)
        if 0 <= index < minutes:
            queue[row["kind"]][index] += row["n"]
    return series


@dataclass(frozen=True)
class Totals:
    open_dead_letters: int
    workers_online: int
    approvals_pending: int


def totals(scope: TenantScope) -> Totals:
    dead = scope.restrict(DeadLetter.objects.filter(state="open"))
    # Pending approvals: approvals registers the count (absurd_core/hooks.py).
    approvals = hooks.total("approvals_pending", scope)
    return Totals(dead.count(), Worker.objects.alive().count(), approvals)


#: The states of a task that is not finished.
ACTIVE_STATES = ("pending", "running", "sleeping")


def active_task_counts(
    scope: TenantScope, queues: list[str] | None = None, *, using: str = "default"
) -> list[tuple[str, str, str, int]]:
    """(queue, tenant, state, count) of the unfinished tasks of ``scope`` (tenant ``""``
    for a task without one), one statement over every queue (default: all of them).

    Published to plugins (the metrics plugin). Cost: driven from the runs table's
    (state, available_at) index (upstream's r_<queue>_sai) for the active states, then
    one primary-key lookup per active run into t_<queue> for the tenant: proportional
    to the active tasks, not to the completed history. A task's state and its current
    run's state move together in the engine (pending/pending, running/running,
    sleeping/sleeping), and joining on ``last_attempt_run`` counts each task once.
    """
    queues = list_queues(using=using) if queues is None else queues
    if not queues:
        return []
    where, where_params = tenant_filter(scope)
    states = list(ACTIVE_STATES)
    query, params = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "select %s::text, coalesce(t.headers->>'tenant', ''), t.state, count(*)"
                " from absurd.{runs} r join absurd.{tasks} t"
                " on t.task_id = r.task_id and t.last_attempt_run = r.run_id"
                " where r.state = any(%s) and t.state = any(%s) and {where}"
                " group by 2, 3"
            ).format(
                runs=sql.Identifier(f"r_{queue}"),
                tasks=sql.Identifier(f"t_{queue}"),
                where=where,  # on t.headers: the runs table has no headers column
            ),
            [queue, states, states, *where_params],
        ),
    )
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        return cursor.fetchall()
