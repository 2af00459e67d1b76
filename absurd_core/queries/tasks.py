"""One task, wherever it is, for a tenant: its state, runs, checkpoints and current wait.

A task id does not say which queue holds it, so ``find_task`` looks in every
queue's task table by primary key (one index probe per queue), with the
tenant filter in the same statement: another tenant's task is not found, the
same as a task that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from absurd_core.engine import list_queues, load_json
from absurd_core.errors import TaskNotFound
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues


@dataclass(frozen=True)
class RunInfo:
    run_id: UUID
    attempt: int
    state: str
    started_at: datetime | None
    completed_at: datetime | None
    failure: Any
    failed_at: datetime | None = None
    #: A cancelled run's end: the engine stamps only the task (t_<queue>.cancelled_at).
    cancelled_at: datetime | None = None

    @property
    def ended_at(self) -> datetime | None:
        """When this attempt ended, whichever way: completed, failed or cancelled."""
        return self.completed_at or self.failed_at or self.cancelled_at


@dataclass(frozen=True)
class TaskDetail:
    queue: str
    task_id: UUID
    task_name: str
    state: str
    params: Any
    headers: Any
    attempts: int
    max_attempts: int | None
    enqueue_at: datetime
    result: Any
    failure: Any
    runs: list[RunInfo]
    #: Checkpoint (step) names and when each was written; values are not included.
    checkpoints: list[dict[str, Any]]
    #: For a sleeping task: {"until": ...} or {"event": ..., "timeout_at": ...}.
    wait: dict[str, Any] | None
    #: For a pending task with a delayed start still ahead (spawn(run_after=...)): its start.
    starts_at: datetime | None = None
    #: When the task was cancelled (the engine's t_<queue>.cancelled_at), else None.
    cancelled_at: datetime | None = None
    #: When the task first started running (t_<queue>.first_started_at).
    first_started_at: datetime | None = None

    @property
    def ended_at(self) -> datetime | None:
        """When a finished task ended (its last attempt's end); None while it is not."""
        if self.state not in ("completed", "failed", "cancelled"):
            return None
        if self.state == "cancelled" and self.cancelled_at:
            return self.cancelled_at
        return self.runs[-1].ended_at if self.runs else None


def _locate(scope: TenantScope, task_id: UUID, using: str) -> tuple[str, tuple] | None:
    queues = list_queues(using=using)
    if not queues:
        return None
    where, where_params = tenant_filter(scope)
    query, params = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "select %s::text, task_name, state, params, headers, attempts, max_attempts,"
                " enqueue_at, completed_payload, cancelled_at, first_started_at"
                " from absurd.{} where task_id = %s and {}"
            ).format(sql.Identifier(f"t_{queue}"), where),
            [queue, task_id, *where_params],
        ),
    )
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        row = cursor.fetchone()
    return (row[0], row[1:]) if row else None


def find_task(scope: TenantScope, task_id: UUID, *, using: str = "default") -> TaskDetail:
    """Raises TaskNotFound, also for another tenant's task."""
    located = _locate(scope, task_id, using)
    if located is None:
        raise TaskNotFound(f"No task {task_id}.")
    queue, row = located
    name, state, params, headers, attempts, max_attempts, enqueued, payload = row[:8]
    cancelled_at, first_started_at = row[8:10]
    runs_table, checkpoints_table = sql.Identifier(f"r_{queue}"), sql.Identifier(f"c_{queue}")
    with connections[using].cursor() as cursor:
        connection = cursor.connection
        cursor.execute(
            sql.SQL(
                "select run_id, attempt, state, started_at, completed_at, failure_reason,"
                " nullif(available_at, 'infinity'), wake_event,"
                " available_at > absurd.current_time(), failed_at"
                " from absurd.{} where task_id = %s order by attempt"
            )
            .format(runs_table)
            .as_string(connection),
            [task_id],
        )
        run_rows = cursor.fetchall()
        cursor.execute(
            sql.SQL(
                "select checkpoint_name, updated_at from absurd.{} where task_id = %s"
                " order by updated_at"
            )
            .format(checkpoints_table)
            .as_string(connection),
            [task_id],
        )
        checkpoints = [{"name": n, "updated_at": at} for n, at in cursor.fetchall()]
    runs = [
        RunInfo(
            r[0], r[1], r[2], r[3], r[4], load_json(r[5]), r[9],
            cancelled_at if r[2] == "cancelled" else None,
        )
        for r in run_rows
    ]  # fmt: skip
    wait = None
    if state == "sleeping" and run_rows:
        last = run_rows[-1]
        if last[7]:
            wait = {"event": last[7]}
            if last[6] is not None:  # null: a wait without a timeout
                wait["timeout_at"] = last[6]
        else:
            wait = {"until": last[6]}
    starts_at = None
    if state == "pending" and run_rows and run_rows[-1][2] == "pending" and run_rows[-1][8]:
        starts_at = run_rows[-1][6]
    return TaskDetail(
        queue=queue,
        task_id=task_id,
        task_name=name,
        state=state,
        params=load_json(params),
        headers=load_json(headers),
        attempts=attempts,
        max_attempts=max_attempts,
        enqueue_at=enqueued,
        result=load_json(payload) if state == "completed" else None,
        failure=runs[-1].failure if state == "failed" and runs else None,
        runs=runs,
        checkpoints=checkpoints,
        wait=wait,
        starts_at=starts_at,
        cancelled_at=cancelled_at,
        first_started_at=first_started_at,
    )
