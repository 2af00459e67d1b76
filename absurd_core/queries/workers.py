"""Reading the worker registry, tenant-scoped like every other read.

Workers are shared: one process runs every tenant's tasks, so its identity,
queues and liveness are no one tenant's secret. Its counters (in flight,
processed, failed) add up all tenants' work, though, and would tell one tenant
how busy the others are: only "all tenants" principals (platform staff, the
``workers`` command) see them.

Workers that are not ours (absurd-sdk workers in TypeScript or Python, anything
calling ``absurd.claim_task``) report nowhere; they are listed as *external*
from the runs they hold claimed now (the engine's ``claimed_by``), on any queue,
under the name they claim with. They show while they hold a claim: an idle one
leaves no trace to read. Pause and ``max_running`` do not bind them
(docs/tenants.md#mixed-fleets).

Liveness (docs/worker.md#liveness): a registry worker's counters are what it
reported at its last heartbeat, so a dead one's "in flight" would stay frozen.
For a worker that is not alive, in flight is read from the engine instead: its
runs still ``running`` under its name with an unexpired lease (0 once they were
retried elsewhere). Workers dead or stopped for longer than
``settings.ABSURD_DEAD_WORKER_RETENTION`` seconds (``dead_worker_retention``;
default a day) are not listed; an admin of a platform tenant may remove one
sooner (absurd_core.actions.workers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from psycopg import sql

from absurd_core.engine import list_queues
from absurd_core.models import WORKER_HEARTBEAT_SECONDS, Worker
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, union_over_queues

#: How long a dead or stopped worker stays listed when the setting is unset: a day.
DEFAULT_DEAD_WORKER_RETENTION = 24 * 3600


def dead_worker_retention() -> timedelta:
    """``settings.ABSURD_DEAD_WORKER_RETENTION`` (seconds), at least three heartbeats so
    that no live worker is ever hidden."""
    seconds = getattr(settings, "ABSURD_DEAD_WORKER_RETENTION", DEFAULT_DEAD_WORKER_RETENTION)
    return timedelta(seconds=max(int(seconds), 3 * WORKER_HEARTBEAT_SECONDS))


@dataclass(frozen=True)
class WorkerView:
    worker_id: str
    host: str
    queues: list[str]
    #: None for an external worker: it does not say.
    concurrency: int | None
    status: str
    started_at: datetime
    last_seen: datetime
    #: None unless the scope is all tenants.
    in_flight: int | None
    processed: int | None
    failed: int | None
    #: Not a runworker of ours: seen only through the runs it holds claimed.
    external: bool = False


def workers_for(
    scope: TenantScope, *, include_stopped: bool = False, platform: bool = False
) -> list[WorkerView]:
    """``platform``: the principal is platform staff, who see counters whatever the scope.

    Workers not seen for longer than ``dead_worker_retention()`` are left out; a worker
    that is not alive counts in flight only its runs the engine still has it hold."""
    queryset = Worker.objects.filter(last_seen__gte=timezone.now() - dead_worker_retention())
    if not include_stopped:
        queryset = queryset.filter(stopped_at__isnull=True)
    counters = scope.is_all or platform
    registered = list(queryset)
    held = held_by_claimer() if counters and any(w.status != "alive" for w in registered) else {}
    ours = [
        WorkerView(
            worker_id=w.worker_id,
            host=w.host,
            queues=list(w.queues),
            concurrency=w.concurrency,
            status=w.status,
            started_at=w.started_at,
            last_seen=w.last_seen,
            in_flight=(w.in_flight if w.status == "alive" else held.get(w.worker_id, 0))
            if counters
            else None,
            processed=w.processed if counters else None,
            failed=w.failed if counters else None,
        )
        for w in registered
    ]
    return ours + external_workers(counters=counters)


def held_by_claimer(*, using: str = "default") -> dict[str, int]:
    """Running runs with an unexpired lease, by claimer, over every queue (every tenant:
    platform data). What a worker that stopped responding still holds."""
    queues = list_queues(using=using)
    if not queues:
        return {}
    union, _ = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "select claimed_by from absurd.{} where state = 'running'"
                " and claim_expires_at > now() and claimed_by is not null"
            ).format(sql.Identifier(f"r_{queue}")),
            [],
        ),
    )
    query = sql.SQL("select claimed_by, count(*)::int from ({}) c group by claimed_by").format(
        union
    )
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection))
        return dict(cursor.fetchall())


def external_workers(*, counters: bool, using: str = "default") -> list[WorkerView]:
    """Every claimer of a running run that is not a runworker in our registry.

    One statement over every queue's running runs (upstream's partial index on
    claim_expires_at of running runs serves each part). ``status`` is ``alive``
    while one of its leases is unexpired, ``dead`` once all have expired (the
    engine fails those runs at the next claim); ``started_at`` is its oldest held
    claim's start and ``last_seen`` its newest.
    """
    queues = list_queues(using=using)
    if not queues:
        return []
    union, _ = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "select {} as queue, claimed_by, count(*) as n, min(started_at) as first,"
                " max(started_at) as last, max(claim_expires_at) as lease"
                " from absurd.{} where state = 'running' and claim_expires_at is not null"
                " and claimed_by is not null group by claimed_by"
            ).format(sql.Literal(queue), sql.Identifier(f"r_{queue}")),
            [],
        ),
    )
    query = sql.SQL(
        "select c.claimed_by, array_agg(c.queue order by c.queue), sum(c.n)::int, min(c.first),"
        " max(c.last), max(c.lease) from ({}) c"
        " where not exists (select from absurd_control_worker w where w.worker_id = c.claimed_by)"
        " group by c.claimed_by order by c.claimed_by"
    ).format(union)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection))
        rows = cursor.fetchall()
    now = timezone.now()
    return [
        WorkerView(
            worker_id=claimer,
            host="",
            queues=list(queue_names),
            concurrency=None,
            status="alive" if lease and lease > now else "dead",
            started_at=first or now,
            last_seen=last or now,
            in_flight=held if counters else None,
            processed=None,
            failed=None,
            external=True,
        )
        for claimer, queue_names, held, first, last, lease in rows
    ]


@dataclass(frozen=True)
class FleetCounts:
    """The registry's runworker processes not stopped, as ``Worker`` defines alive."""

    alive: int
    dead: int
    #: Runs executing on alive workers, as of their last heartbeat.
    in_flight: int


def fleet_counts(*, using: str = "default") -> FleetCounts:
    """How many of our workers are alive and dead (dead within the retention period, as
    listed), and their runs in flight, across every
    tenant (platform data; published to plugins: the metrics plugin). Cost: a scan of the
    worker registry, one row per runworker process ever started: small."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "select count(*) filter (where alive), count(*) filter (where not alive),"
            " coalesce(sum(in_flight) filter (where alive), 0)"
            " from (select in_flight, last_seen >= now() - make_interval(secs => %s) as alive"
            "         from absurd_control_worker where stopped_at is null"
            "         and last_seen >= now() - make_interval(secs => %s)) w",
            [3 * WORKER_HEARTBEAT_SECONDS, dead_worker_retention().total_seconds()],
        )
        return FleetCounts(*cursor.fetchone())
