"""Runs held by a worker that stopped responding, and how long the engine still waits.

A run stays ``running`` under its claimer until its lease (``claim_expires_at``)
runs out; only then does the next ``absurd.claim_task`` on its queue fail it and
schedule the retry. A worker killed with SIGKILL leaves its runs so: still
"running · w3", while w3 is dead. ``dead_holds`` finds, for given tasks of the
scope, those whose current run is held by a claimer that is not alive: a runworker
of our registry that missed three heartbeats or stopped, or any claimer (ours or
another Absurd client's) whose lease has already expired.

One statement: a union over the queues of the tasks asked about, each part a
primary-key probe of the task (``task_id = any(...)``, tenant-filtered) joined to
its current run, left-joined to the worker registry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import sql

from absurd_core.models import WORKER_HEARTBEAT_SECONDS
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues


@dataclass(frozen=True)
class DeadHold:
    task_id: UUID
    run_id: UUID
    worker_id: str
    #: When the claimer was last heard of: its last heartbeat (None: not a runworker of
    #: ours; an external claimer says nothing but its lease).
    last_seen: datetime | None
    #: When the engine stops waiting: the next claim on the queue fails the run and
    #: schedules its retry (or fails the task after its last attempt).
    lease_expires_at: datetime
    #: The database's now() when read, to compare both times with.
    now: datetime


def dead_holds(
    scope: TenantScope, tasks: Iterable[tuple[str, UUID]], *, using: str = "default"
) -> dict[UUID, DeadHold]:
    """For ``tasks`` ((queue, task_id) pairs, e.g. a page's running rows), those of
    ``scope`` whose running run is held by a claimer that is not alive."""
    by_queue: dict[str, list[UUID]] = defaultdict(list)
    for queue, task_id in tasks:
        by_queue[queue].append(task_id)
    if not by_queue:
        return {}
    where, tenant_params = tenant_filter(scope)

    def part(queue: str) -> tuple[sql.Composable, list]:
        return sql.SQL(
            "(select t.task_id, r.run_id, r.claimed_by, r.claim_expires_at"
            " from absurd.{} t join absurd.{} r on r.run_id = t.last_attempt_run"
            " where t.task_id = any(%s) and t.state = 'running' and r.state = 'running'"
            " and r.claimed_by is not null and r.claim_expires_at is not null and {})"
        ).format(sql.Identifier(f"t_{queue}"), sql.Identifier(f"r_{queue}"), where), [
            by_queue[queue],
            *tenant_params,
        ]

    union, params = union_over_queues(sorted(by_queue), part)
    query = sql.SQL(
        "select h.task_id, h.run_id, h.claimed_by, w.last_seen, h.claim_expires_at, now()"
        " from ({}) h left join absurd_control_worker w on w.worker_id = h.claimed_by"
        " where h.claim_expires_at <= now()"
        " or w.stopped_at is not null"
        " or w.last_seen < now() - make_interval(secs => %s)"
    ).format(union)
    params.append(3 * WORKER_HEARTBEAT_SECONDS)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        rows = cursor.fetchall()
    return {row[0]: DeadHold(*row) for row in rows}
