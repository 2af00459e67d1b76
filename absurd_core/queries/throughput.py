"""The overview chart's reads: finished tasks per bucket, and run-duration percentiles.

Both read the aggregates the event log's insert trigger keeps
(absurd_core/sql/throughput.sql; models ``ThroughputBucket`` and
``RunDurationBucket``), never the event log or the engine's tables, so their cost
depends on the range and the number of queues, tenants and task names, not on how
many tasks ran (docs/dashboard-performance.md has the figures at a million tasks).

- ``RANGES``: the chart's ranges by name ("1h", "24h", "7d"), each with its bucket
  width: 60 one-minute, 288 five-minute, 168 one-hour points;
- ``chart_range``: a range by name; InvalidArgument for any other name;
- ``throughput_series``: completed, failed and retried (failed attempts followed by
  a new run) per bucket, oldest first, every bucket present (zeros included);
- ``duration_percentiles``: per task name, the number of completed runs in the
  range and their p50, p95 and p99 time on a worker (from the claim that ran the
  run to its end), read from a log-scale histogram: each within 9% of the truth.

Every read takes a scope (absurd_core.tenancy); a queue filter is a name, compared as
a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from psycopg import sql

from absurd_core.errors import InvalidArgument
from absurd_core.index_keys import text_equals
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope


@dataclass(frozen=True)
class ChartRange:
    name: str
    #: How far back the chart reaches.
    length: timedelta
    #: One point's width.
    step: timedelta
    #: Which stored buckets are read: 1 (minutes) or 60 (hours).
    span: int
    label: str

    @property
    def points(self) -> int:
        return int(self.length / self.step)


RANGES: dict[str, ChartRange] = {
    r.name: r
    for r in (
        ChartRange("1h", timedelta(hours=1), timedelta(minutes=1), 1, "last hour, per minute"),
        ChartRange(
            "24h", timedelta(hours=24), timedelta(minutes=5), 1, "last 24 hours, per 5 minutes"
        ),
        ChartRange("7d", timedelta(days=7), timedelta(hours=1), 60, "last 7 days, per hour"),
    )
}
DEFAULT_RANGE = "1h"

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def chart_range(name: str | None) -> ChartRange:
    """The range called ``name`` (None: the default). InvalidArgument otherwise."""
    if name is None or name == "":
        return RANGES[DEFAULT_RANGE]
    try:
        return RANGES[name]
    except (KeyError, TypeError):
        known = ", ".join(RANGES)
        raise InvalidArgument(f"Unknown range {str(name)[:40]!r}: use one of {known}.") from None


def window(chart: ChartRange, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) of ``chart`` ending with the bucket that holds ``now``."""
    now = now or timezone.now()
    steps = (now - _EPOCH) // chart.step
    end = _EPOCH + (steps + 1) * chart.step
    return end - chart.length, end


@dataclass(frozen=True)
class Series:
    range: ChartRange
    #: Each point's start, oldest first.
    starts: list[datetime]
    completed: list[int]
    failed: list[int]
    retried: list[int]

    @property
    def totals(self) -> dict[str, int]:
        return {
            "completed": sum(self.completed),
            "failed": sum(self.failed),
            "retried": sum(self.retried),
        }


_SERIES = sql.SQL(
    """
    select date_bin(%s, bucket, %s) as point, sum(completed), sum(failed), sum(retried)
      from public.absurd_control_throughput
     where span = %s and bucket >= %s and bucket < %s and {queue} and {tenant}
     group by 1
    """
)


def _filters(scope: TenantScope, queue: str | None) -> tuple[sql.Composable, sql.Composable, list]:
    """The queue and tenant conditions on an aggregate table, with their parameters."""
    params: list = []
    queue_sql: sql.Composable = sql.SQL("true")
    if queue is not None:
        queue_sql = sql.SQL("queue = %s")
        params.append(queue)
    tenant_sql: sql.Composable = sql.SQL("true")
    if not scope.is_all:
        # The prefix and the full value (absurd_core/index_keys.py); tenantless: also "".
        tenant_sql, tenant_params = text_equals("tenant", scope.slug)
        if scope.tenantless:
            tenant_sql = sql.SQL("(({}) or tenant = '')").format(tenant_sql)
        params.extend(tenant_params)
    return queue_sql, tenant_sql, params


def throughput_series(
    scope: TenantScope,
    chart: ChartRange,
    *,
    queue: str | None = None,
    now: datetime | None = None,
    using: str = "default",
) -> Series:
    """Completed, failed and retried per point of ``chart`` for ``scope`` (and ``queue``).

    Summed into the chart's points in SQL (date_bin): at most a few hundred rows come back
    however many buckets and writers the range holds."""
    start, end = window(chart, now)
    queue_sql, tenant_sql, params = _filters(scope, queue)
    query = _SERIES.format(queue=queue_sql, tenant=tenant_sql)
    with connections[using].cursor() as cursor:
        cursor.execute(
            query.as_string(cursor.connection),
            [chart.step, _EPOCH, chart.span, start, end, *params],
        )
        rows = cursor.fetchall()
    points = chart.points
    completed, failed, retried = [0] * points, [0] * points, [0] * points
    for point, c, f, r in rows:
        index = int((point - start) // chart.step)
        if 0 <= index < points:
            completed[index] += int(c)
            failed[index] += int(f)
            retried[index] += int(r)
    starts = [start + i * chart.step for i in range(points)]
    return Series(chart, starts, completed, failed, retried)


@dataclass(frozen=True)
class DurationRow:
    task_name: str
    runs: int
    #: Seconds, each a histogram bin's middle (within 9%).
    p50: float
    p95: float
    p99: float


def bin_seconds(bin_: int) -> float:
    """The representative duration of histogram bin ``bin_`` (throughput.sql), in seconds."""
    return 2 ** ((bin_ + 0.5) / 4) / 1000


_PERCENTILES = sql.SQL(
    """
    with h as (
      select task_name, bin, sum(runs) as n
        from public.absurd_control_run_duration
       where span = %s and bucket >= %s and bucket < %s and {queue} and {tenant}
       group by 1, 2
    ), c as (
      select task_name, bin,
             sum(n) over (partition by task_name order by bin) as cum,
             sum(n) over (partition by task_name) as total
        from h
    )
    select task_name, total,
           min(bin) filter (where cum >= 0.50 * total),
           min(bin) filter (where cum >= 0.95 * total),
           min(bin) filter (where cum >= 0.99 * total)
      from c
     group by task_name, total
     order by total desc, task_name
     limit %s
    """
)


def duration_percentiles(
    scope: TenantScope,
    chart: ChartRange,
    *,
    queue: str | None = None,
    now: datetime | None = None,
    limit: int = 20,
    using: str = "default",
) -> list[DurationRow]:
    """p50/p95/p99 of completed runs per task name over ``chart``, busiest names first
    (at most ``limit``). The 7-day range reads whole hours, the others minutes."""
    start, end = window(chart, now)
    if chart.span == 60:
        start = _EPOCH + ((start - _EPOCH) // timedelta(hours=1)) * timedelta(hours=1)
    queue_sql, tenant_sql, filter_params = _filters(scope, queue)
    params: list = [chart.span, start, end, *filter_params, limit]
    query = _PERCENTILES.format(queue=queue_sql, tenant=tenant_sql)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        rows = cursor.fetchall()
    return [
        DurationRow(name, int(total), bin_seconds(p50), bin_seconds(p95), bin_seconds(p99))
        for name, total, p50, p95, p99 in rows
    ]
