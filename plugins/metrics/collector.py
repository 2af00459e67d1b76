"""The metrics, read from the database at scrape time.

Nothing is kept in process memory: every gunicorn worker (or any process)
that serves /metrics answers from the same rows, so scrapes that land on
different processes agree. One scrape is one short transaction of up to twelve
statements; what each costs is in the docstring of the function that runs it.
"Active" below means the states pending, running and sleeping; terminal tasks
(completed, failed, cancelled) are the bulk of a long-lived queue and are never
counted row by row: their rate is in the transition counters.

Metric names, labels and meanings are listed in docs/metrics.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from absurd_core import (
    ALL_TENANTS,
    WORKER_HEARTBEAT_SECONDS,
    TenantScope,
    active_task_counts,
    count_events,
    engine,
    fleet_counts,
    open_dead_letter_counts,
    schedule_stats,
)
from approvals.statistics import decisions_by_tenant, pending_by_tenant

ACTIVE_STATES = ("pending", "running", "sleeping")

#: Event-log kinds folded into counters: kind -> (metric name without _total, help).
COUNTED_KINDS = {
    "spawned": ("absurd_control_tasks_spawned", "Tasks spawned."),
    "completed": ("absurd_control_tasks_completed", "Tasks that completed."),
    "failed": (
        "absurd_control_tasks_failed",
        "Tasks that failed terminally (every attempt used; each opens a dead letter).",
    ),
    "cancelled": ("absurd_control_tasks_cancelled", "Tasks cancelled."),
    "retry_scheduled": (
        "absurd_control_task_retries",
        "Runs that failed with attempts left, so that a retry was scheduled.",
    ),
}

#: At most this many event-log rows are folded per scrape (see fold_event_log).
FOLD_BATCH = 100_000
CURSOR_NAME = "task_totals"
QUANTILES = (0.5, 0.9, 0.99)
#: Metrics add up every tenant's queues: platform data (the view guards who may scrape).
EVERY_TENANT = TenantScope(ALL_TENANTS)


def fold_event_log(cursor, batch: int = FOLD_BATCH) -> int:
    """Add the event-log rows written since the last fold to the totals; returns how many.

    The rows come from the lifecycle feed, counted by the core
    (``absurd_core.count_events``): a range scan of the event log's (txid, id) index
    from this plugin's cursor, limited to ``batch`` rows, so proportional to the events
    since the previous scrape, not to the log's size; plus one upsert per (queue,
    tenant, kind) seen. A first scrape over a large existing log catches up ``batch``
    rows at a time.

    Exactly once: the cursor row is locked (concurrent scrapes wait for each other), and
    the totals and the cursor move in the same transaction. The feed reads only events
    of transactions older than every one running in this database (as lifecycle
    listeners get them), so
    an event committed late by a long transaction with a smaller id is not skipped; it
    is counted once that transaction ends.
    """
    cursor.execute(
        "insert into absurd_control_metrics_cursor (name, last_txid, last_id, updated_at)"
        " values (%s, 0, 0, now()) on conflict (name) do nothing",
        [CURSOR_NAME],
    )
    cursor.execute(
        "select last_txid, last_id from absurd_control_metrics_cursor where name = %s for update",
        [CURSOR_NAME],
    )
    last_txid, last_id = cursor.fetchone()
    feed = count_events((last_txid, last_id), list(COUNTED_KINDS), limit=batch)
    if feed.last is None:
        return 0
    if feed.counts:
        queues, tenants, kinds, totals = map(list, zip(*feed.counts, strict=True))
        cursor.execute(
            "insert into absurd_control_metrics_task_total as t (queue, tenant, kind, total)"
            " select * from unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])"
            " on conflict (queue, md5(tenant), kind)"
            " do update set total = t.total + excluded.total",
            [queues, tenants, kinds, totals],
        )
    cursor.execute(
        "update absurd_control_metrics_cursor set last_txid = %s, last_id = %s, updated_at = now()"
        " where name = %s",
        [*feed.last, CURSOR_NAME],
    )
    return feed.rows


def task_totals(cursor) -> list[tuple[str, str, str, int]]:
    """(queue, tenant, kind, total). Cost: reads the totals table, one row per
    (queue, tenant, kind) ever seen: small, whatever the event log's size."""
    cursor.execute("select queue, tenant, kind, total from absurd_control_metrics_task_total")
    return cursor.fetchall()


@dataclass
class Snapshot:
    """Everything one scrape read, in one transaction."""

    queues: list[str] = field(default_factory=list)
    totals: list = field(default_factory=list)
    active: list = field(default_factory=list)
    dead_letters: list = field(default_factory=list)
    workers: tuple = (0, 0, 0)
    tenants: list = field(default_factory=list)
    pending: list = field(default_factory=list)
    latency: list = field(default_factory=list)
    schedule_lag: float = 0.0
    schedules: list = field(default_factory=list)
    folded: int = 0
    seconds: float = 0.0


def read_snapshot(window_seconds: int) -> Snapshot:
    """One scrape's reads, in one transaction, through the published query functions
    (``absurd_core``'s platform counts and ``approvals.statistics``); what each costs is
    in its docstring. The plugin's own tables are the only ones it reads directly."""
    started = time.perf_counter()
    snap = Snapshot()
    with transaction.atomic(), connection.cursor() as cursor:
        snap.folded = fold_event_log(cursor)
        snap.totals = task_totals(cursor)
        snap.queues = sorted(engine.list_queues())
        snap.active = active_task_counts(EVERY_TENANT, snap.queues)
        snap.dead_letters = open_dead_letter_counts(EVERY_TENANT)
        fleet = fleet_counts()
        snap.workers = (fleet.alive, fleet.dead, fleet.in_flight)
        pending = pending_by_tenant(EVERY_TENANT)
        snap.tenants = [p.tenant for p in pending]
        snap.pending = [(p.tenant, p.count, p.oldest_seconds) for p in pending if p.count]
        snap.latency = [
            (d.tenant, d.count, d.total_seconds, d.quantiles)
            for d in decisions_by_tenant(
                EVERY_TENANT, window_seconds=window_seconds, quantiles=QUANTILES
            )
        ]
        snap.schedule_lag, snap.schedules = schedule_stats()
    snap.seconds = time.perf_counter() - started
    return snap


class DatabaseCollector(Collector):
    """A prometheus_client collector whose every collect() reads the database."""

    def collect(self) -> Iterator:
        window = int(getattr(settings, "METRICS_APPROVAL_WINDOW", 3600))
        snap = read_snapshot(window)
        yield from families(snap, window)


def families(snap: Snapshot, window: int) -> Iterator:
    existing = set(snap.queues)
    # Series exist for every (queue, tenant) that ever spawned a task (the totals) or has
    # active tasks now, with zeros filled in, so they do not vanish when a count drops to 0.
    pairs = {(q, t) for q, t, _, _ in snap.totals if q in existing}
    pairs |= {(q, t) for q, t, _, _ in snap.active}
    pairs |= {(q, t) for q, t, _ in snap.dead_letters if q in existing}
    pairs = sorted(pairs)

    depth = GaugeMetricFamily(
        "absurd_control_queue_tasks",
        "Active tasks (pending, running, sleeping) by queue, tenant and state.",
        labels=["queue", "tenant", "state"],
    )
    active = {(q, t, s): n for q, t, s, n in snap.active}
    for queue, tenant in pairs:
        for state in ACTIVE_STATES:
            depth.add_metric([queue, tenant, state], active.get((queue, tenant, state), 0))
    yield depth

    totals = {(q, t, k): n for q, t, k, n in snap.totals}
    for kind, (name, help_text) in COUNTED_KINDS.items():
        counter = CounterMetricFamily(name, help_text, labels=["queue", "tenant"])
        for queue, tenant in pairs:
            counter.add_metric([queue, tenant], totals.get((queue, tenant, kind), 0))
        yield counter

    dead = GaugeMetricFamily(
        "absurd_control_dead_letters_open",
        "Dead letters (terminally failed tasks) not yet retried or discarded.",
        labels=["queue", "tenant"],
    )
    open_counts = {(q, t): n for q, t, n in snap.dead_letters}
    for queue, tenant in pairs:
        dead.add_metric([queue, tenant], open_counts.get((queue, tenant), 0))
    yield dead

    alive, dead_workers, in_flight = snap.workers
    workers = GaugeMetricFamily(
        "absurd_control_workers",
        "Registered runworker processes not stopped: alive (heartbeat within "
        f"{3 * WORKER_HEARTBEAT_SECONDS} s) or dead (silent longer).",
        labels=["status"],
    )
    workers.add_metric(["alive"], alive)
    workers.add_metric(["dead"], dead_workers)
    yield workers
    yield GaugeMetricFamily(
        "absurd_control_worker_runs_in_flight",
        "Runs executing on alive workers, as of their last heartbeat.",
        value=in_flight,
    )

    tenants = sorted(set(snap.tenants) | {t for t, _, _ in snap.pending})
    pending = {t: (n, age) for t, n, age in snap.pending}
    pending_family = GaugeMetricFamily(
        "absurd_control_approvals_pending",
        "Approval requests waiting for a decision.",
        labels=["tenant"],
    )
    oldest = GaugeMetricFamily(
        "absurd_control_approval_oldest_pending_seconds",
        "Age of the oldest pending approval request (only tenants with one pending).",
        labels=["tenant"],
    )
    for tenant in tenants:
        count, age = pending.get(tenant, (0, None))
        pending_family.add_metric([tenant], count)
        if age is not None:
            oldest.add_metric([tenant], age)
    yield pending_family
    yield oldest

    decided = GaugeMetricFamily(
        "absurd_control_approval_decisions_recent",
        f"Approvals approved or rejected in the last {window} s.",
        labels=["tenant"],
    )
    latency = GaugeMetricFamily(
        "absurd_control_approval_decision_seconds",
        f"Decision latency (decided_at - created_at) of the approvals decided in the last "
        f"{window} s: quantiles (0.5, 0.9, 0.99; only tenants with decisions in the window).",
        labels=["tenant", "quantile"],
    )
    mean = GaugeMetricFamily(
        "absurd_control_approval_decision_seconds_mean",
        f"Mean decision latency of the approvals decided in the last {window} s.",
        labels=["tenant"],
    )
    by_tenant = {t: (n, total, qs) for t, n, total, qs in snap.latency}
    for tenant in sorted(set(tenants) | set(by_tenant)):
        count, total, quantiles = by_tenant.get(tenant, (0, 0.0, None))
        decided.add_metric([tenant], count)
        if count:
            mean.add_metric([tenant], total / count)
            for q, value in zip(QUANTILES, quantiles, strict=True):
                latency.add_metric([tenant, str(q)], value)
    yield decided
    yield latency
    yield mean

    yield GaugeMetricFamily(
        "absurd_control_schedule_lag_seconds",
        "Now minus the oldest due fire time of an enabled schedule (0: none is due).",
        value=snap.schedule_lag,
    )
    fires = CounterMetricFamily(
        "absurd_control_schedule_fires", "Slots a schedule fired.", labels=["tenant", "schedule"]
    )
    refusals = CounterMetricFamily(
        "absurd_control_schedule_refusals",
        "Fires the tenant's spawn gate refused (each retried).",
        labels=["tenant", "schedule"],
    )
    for tenant, name, fired, refused in snap.schedules:
        fires.add_metric([tenant, name], fired)
        refusals.add_metric([tenant, name], refused)
    yield fires
    yield refusals

    yield GaugeMetricFamily(
        "absurd_control_metrics_scrape_seconds",
        "Time this scrape spent reading the database.",
        value=snap.seconds,
    )
    yield GaugeMetricFamily(
        "absurd_control_metrics_events_folded",
        "Event-log rows this scrape folded into the task counters.",
        value=snap.folded,
    )


registry = CollectorRegistry(auto_describe=False)
registry.register(DatabaseCollector())
