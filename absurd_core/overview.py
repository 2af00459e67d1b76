"""What the dashboard overview shows, per queue and in total, tenant-scoped.

- ``overview_stats``: per queue, task counts by state (``estimated`` when they
  are estimates rather than exact counts), the oldest pending task's spawn time
  (the backlog's age) and whether the queue is paused;
- ``throughput``: completed and failed tasks per minute over the last hour, from
  the event log, for the sparklines;
- ``totals``: open dead letters, workers online and approvals awaiting a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone
from psycopg import sql

from absurd_core.models import DeadLetter, TaskEvent, Worker
from absurd_core.queries import _tenant_filter, queue_overview
from absurd_core.queue_admin import pauses
from tenants.scoping import TenantScope


@dataclass(frozen=True)
class QueueStats:
    name: str
    counts: dict[str, int]
    #: True when ``counts`` are estimates (huge tables), shown as such.
    estimated: bool
    oldest_pending_at: datetime | None
    paused: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _oldest_pending(scope: TenantScope, queue: str, using: str) -> datetime | None:
    where, params = _tenant_filter(scope)
    query = sql.SQL(
        "select enqueue_at from absurd.{} where state = 'pending' and {} order by task_id limit 1"
    ).format(sql.Identifier(f"t_{queue}"), where)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        row = cursor.fetchone()
    return row[0] if row else None


def overview_stats(scope: TenantScope, *, using: str = "default") -> list[QueueStats]:
    paused = pauses(using=using)
    return [
        QueueStats(
            name=summary.name,
            counts=summary.counts,
            estimated=False,
            oldest_pending_at=_oldest_pending(scope, summary.name, using),
            paused=summary.name in paused,
        )
        for summary in queue_overview(scope, using=using)
    ]


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
    if not scope.is_all:
        rows = rows.filter(tenant=scope.slug)
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
    from approvals.models import ApprovalRequest

    dead = DeadLetter.objects.filter(state="open")
    approvals = ApprovalRequest.objects.filter(state="pending")
    if not scope.is_all:
        dead = dead.filter(tenant=scope.slug)
        approvals = approvals.filter(tenant=scope.slug)
    return Totals(dead.count(), Worker.objects.alive().count(), approvals.count())
