"""Run one claimed task and settle its run (complete, fail, suspend or defer).

Runs this worker cannot execute (a name nobody registered here, an external task
another worker runs) are handed back, not failed: another worker of the fleet may
know them. Each goes back with a randomised backoff that grows with every time
this worker handed that task back, so a mixed fleet's other workers get their
runs, and runworker does not hold them in a tight claim-defer loop.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import absurd_sdk
import psycopg
from absurd_sdk import CancelledTask, FailedTask, SuspendTask
from django.db import connections

from absurd_core.registry import TaskRegistry, TaskSpec
from absurd_core.worker.context import build_context

logger = logging.getLogger("absurd_core.worker")

#: A run this worker cannot execute goes back for BASE * 2**n seconds (at most CAP), n being
#: how often this worker handed that task back before, randomised between half and all of it.
UNKNOWN_BACKOFF_BASE = 1.0
UNKNOWN_BACKOFF_CAP = 300.0
#: How many tasks' hand-back counts (and unknown names) a worker remembers; the least
#: recently seen are forgotten first (their next backoff starts small again).
UNKNOWN_MEMORY = 10_000
#: The retry strategy of a failed run whose task has neither max_attempts nor a strategy,
#: and whose registered task has no strategy either: never an immediate retry loop.
MINIMUM_BACKOFF = {"kind": "exponential", "base_seconds": 1, "factor": 2, "max_seconds": 300}
FAIL_WITH_DEFAULTS_SQL = (
    "select absurd_control.fail_run_with_defaults(%s, %s, %s::jsonb, %s, %s::jsonb)"
)
#: Check a connection that has been idle this long before running task code on it.
IDLE_CHECK_SECONDS = 1.0

Status = Literal["completed", "failed", "suspended", "cancelled", "lost", "deferred"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    duration: float
    error: str | None = None


def serialize_error(err: BaseException) -> dict[str, Any]:
    import traceback

    return {
        "name": err.__class__.__name__,
        "message": str(err),
        "traceback": "".join(traceback.format_exception(err)),
        # The import path of the exception's class (Django's TaskError.exception_class_path).
        "exception_class": f"{err.__class__.__module__}.{err.__class__.__qualname__}",
    }


def _sqlstate(err: BaseException) -> str | None:
    return getattr(err, "sqlstate", None)


class ConnectionLostBeforeStart(Exception):
    """The execution connection failed before any task code ran: safe to retry the run."""


class UnknownTasks:
    """What one worker process remembers of runs it cannot execute, whichever thread saw
    them: the names it logged (each once) and how often it handed each task back.

    What grows is the number of tasks handed back, so both are bounded (``limit``
    entries, least recently seen forgotten first): a queue of a million foreign tasks
    costs a fixed amount of memory.
    """

    def __init__(self, limit: int = UNKNOWN_MEMORY) -> None:
        self._names: OrderedDict[str, None] = OrderedDict()
        self._deferrals: OrderedDict[Any, int] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first_time(self, name: str) -> bool:
        with self._lock:
            if name in self._names:
                self._names.move_to_end(name)
                return False
            self._remember(self._names, name, None)
            return True

    def backoff(self, task_id: Any) -> float:
        """Seconds to hand this task back for: grows with each hand-back, randomised."""
        with self._lock:
            count = self._deferrals.get(task_id, 0)
            self._remember(self._deferrals, task_id, count + 1)
        ceiling = min(UNKNOWN_BACKOFF_CAP, UNKNOWN_BACKOFF_BASE * 2 ** min(count, 32))
        # Never the same instant twice: two workers that defer each other's runs do not
        # meet again at the run's new available_at.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not a secret)

    def __len__(self) -> int:
        return len(self._deferrals)

    def _remember(self, entries: OrderedDict, key: Any, value: Any) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self._limit:
            entries.popitem(last=False)


class Executor:
    """Executes claimed tasks on one connection (one per execution thread)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        registry: TaskRegistry,
        claim_timeout: int,
        unknown: UnknownTasks | None = None,
        *,
        close_django_connections: bool = True,
    ):
        self.conn = conn
        self.close_django_connections = close_django_connections
        self.registry = registry
        self.claim_timeout = claim_timeout
        self.unknown = unknown or UnknownTasks()
        self.last_used = time.monotonic()

    def run(self, queue: str, claimed: dict[str, Any]) -> Outcome:
        started = time.monotonic()
        if started - self.last_used > IDLE_CHECK_SECONDS:
            # A connection idle for a while may have died with a database restart;
            # find out now, while retrying the run on a new connection is still safe.
            try:
                self.conn.execute("select 1")
            except psycopg.OperationalError as exc:
                raise ConnectionLostBeforeStart(str(exc)) from exc
        self.last_used = started
        spec = self.registry.runnable(claimed["task_name"], queue)
        if spec is None:
            self._defer_unknown(queue, claimed)
            return Outcome("deferred", time.monotonic() - started)

        fields = log_fields(queue, claimed)
        try:
            ctx = build_context(self.conn, queue, claimed, self.claim_timeout)
        except psycopg.OperationalError as exc:
            raise ConnectionLostBeforeStart(str(exc)) from exc
        logger.info("task.start %s", fields)
        token = absurd_sdk._current_task_context.set(ctx)
        try:
            result = spec.handler(claimed["params"], ctx)
            payload = json.dumps(result)
        except SuspendTask:
            return self._done("suspended", started, fields)
        except CancelledTask:
            return self._done("cancelled", started, fields)
        except FailedTask:
            return self._done("lost", started, fields)
        except Exception as err:
            return self._fail(queue, claimed, spec, err, started, fields)
        except BaseException as err:
            # SystemExit / KeyboardInterrupt raised inside task code: settle the
            # run before letting the interruption propagate.
            self._fail(queue, claimed, spec, err, started, fields)
            raise
        finally:
            absurd_sdk._current_task_context.reset(token)
            self.last_used = time.monotonic()
            # Task code may use the ORM (approvals do), which opens this thread's Django
            # connection: give it back after each task rather than keep it across a
            # database restart (a no-op for tasks that did not touch the ORM).
            if self.close_django_connections:
                connections.close_all()

        try:
            self.conn.execute(
                "select absurd.complete_run(%s, %s, %s::jsonb)",
                (queue, claimed["run_id"], payload),
            )
        except psycopg.Error as err:
            status = settled_elsewhere(err)
            if status is not None:
                return self._done(status, started, fields)
            raise
        return self._done("completed", started, fields)

    def _fail(self, queue, claimed, spec: TaskSpec, err, started, fields) -> Outcome:
        duration = time.monotonic() - started
        try:
            self.conn.execute(*fail_statement(queue, claimed, spec, err))
        except psycopg.Error as db_err:
            status = settled_elsewhere(db_err)
            if status is not None:
                return self._done(status, started, fields)
            raise
        return log_failure(fields, duration, err)

    def _done(self, status: Status, started: float, fields: str) -> Outcome:
        return log_done(status, started, fields)

    def _defer_unknown(self, queue: str, claimed: dict[str, Any]) -> None:
        name = claimed["task_name"]
        if self.unknown.first_time(name):
            spec = self.registry.get(name)
            why = "an external task" if spec is not None and spec.external else "not registered"
            logger.warning(
                "task.unknown name=%s queue=%s: %s here; handing its runs back with backoff",
                name,
                queue,
                why,
            )
        self.conn.execute(
            "select absurd.schedule_run(%s, %s,"
            " absurd.current_time() + make_interval(secs => %s::double precision))",
            (queue, claimed["run_id"], self.unknown.backoff(claimed["task_id"])),
        )


def settled_elsewhere(err: psycopg.Error) -> Status | None:
    """The engine's answer when the run was settled under us: cancelled, or its lease lost."""
    return {"AB001": "cancelled", "AB002": "lost"}.get(_sqlstate(err) or "")


def fail_statement(
    queue: str, claimed: dict[str, Any], spec: TaskSpec, err: BaseException
) -> tuple[str, tuple]:
    """The statement that fails a run whose task code raised ``err`` (sync and async)."""
    max_attempts, retry = failure_defaults(claimed, spec)
    if max_attempts is None and retry is None:
        # The task carries its own limits (every spawn of ours): the engine's call.
        return (
            "select absurd.fail_run(%s, %s, %s::jsonb, null)",
            (queue, claimed["run_id"], json.dumps(serialize_error(err))),
        )
    # Spawned elsewhere without them: the registered defaults apply
    # (absurd_core/sql/retries.sql, around absurd.fail_run).
    return (
        FAIL_WITH_DEFAULTS_SQL,
        (
            queue,
            claimed["run_id"],
            json.dumps(serialize_error(err)),
            max_attempts,
            json.dumps(retry) if retry is not None else None,
        ),
    )


def log_failure(fields: str, duration: float, err: BaseException) -> Outcome:
    error = f"{err.__class__.__name__}: {err}"
    logger.warning("task.fail %s duration_ms=%d error=%s", fields, duration * 1000, error[:500])
    return Outcome("failed", duration, error)


def log_done(status: Status, started: float, fields: str) -> Outcome:
    duration = time.monotonic() - started
    logger.info("task.%s %s duration_ms=%d", status, fields, duration * 1000)
    return Outcome(status, duration)


def failure_defaults(
    claimed: dict[str, Any], spec: TaskSpec
) -> tuple[int | None, dict[str, Any] | None]:
    """What the registered task supplies to fail a run its task row has no limits for:
    (max_attempts, retry strategy), each None when the row has its own.

    A row without max_attempts retries for ever in Absurd, and one without a strategy
    at once: a task spawned by another client (absurdctl spawn-task without
    --max-attempts) that keeps failing would run thousands of attempts a minute.
    """
    row_max = claimed.get("max_attempts")
    max_attempts = spec.max_attempts if row_max is None else None
    retry = None
    if claimed.get("retry_strategy") is None:
        retry = dict(spec.retry) if spec.retry else None
        if retry is None and row_max is None:
            retry = dict(MINIMUM_BACKOFF)
    return max_attempts, retry


def log_fields(queue: str, claimed: dict[str, Any]) -> str:
    tenant = (claimed.get("headers") or {}).get("tenant", "")
    return (
        f"task_id={claimed['task_id']} name={claimed['task_name']} queue={queue} "
        f"tenant={tenant} attempt={claimed['attempt']}"
    )
