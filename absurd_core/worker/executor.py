"""Run one claimed task and settle its run (complete, fail, suspend or defer)."""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import absurd_sdk
import psycopg
from absurd_sdk import CancelledTask, FailedTask, SuspendTask
from django.db import connections

from absurd_core.registry import TaskRegistry
from absurd_core.worker.context import build_context

logger = logging.getLogger("absurd_core.worker")

#: Unknown task names are deferred as absurd-sdk does: 15 s plus up to 15 s of jitter.
UNKNOWN_TASK_DEFER_SECONDS = 15
UNKNOWN_TASK_DEFER_JITTER = 15
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
    }


def _sqlstate(err: BaseException) -> str | None:
    return getattr(err, "sqlstate", None)


class ConnectionLostBeforeStart(Exception):
    """The execution connection failed before any task code ran: safe to retry the run."""


class UnknownTaskLog:
    """Logs each unknown task name once per worker process, whichever thread sees it."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first_time(self, name: str) -> bool:
        with self._lock:
            if name in self._seen:
                return False
            self._seen.add(name)
            return True


class Executor:
    """Executes claimed tasks on one connection (one per execution thread)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        registry: TaskRegistry,
        claim_timeout: int,
        unknown: UnknownTaskLog | None = None,
    ):
        self.conn = conn
        self.registry = registry
        self.claim_timeout = claim_timeout
        self.unknown = unknown or UnknownTaskLog()
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
        spec = self.registry.get(claimed["task_name"])
        if spec is None or spec.queue != queue:
            self._defer_unknown(queue, claimed)
            return Outcome("deferred", time.monotonic() - started)

        fields = _log_fields(queue, claimed)
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
            return self._fail(queue, claimed, err, started, fields)
        except BaseException as err:
            # SystemExit / KeyboardInterrupt raised inside task code: settle the
            # run before letting the interruption propagate.
            self._fail(queue, claimed, err, started, fields)
            raise
        finally:
            absurd_sdk._current_task_context.reset(token)
            self.last_used = time.monotonic()
            # Task code may use the ORM (approvals do), which opens this thread's Django
            # connection: give it back after each task rather than keep it across a
            # database restart (a no-op for tasks that did not touch the ORM).
            connections.close_all()

        try:
            self.conn.execute(
                "select absurd.complete_run(%s, %s, %s::jsonb)",
                (queue, claimed["run_id"], payload),
            )
        except psycopg.Error as err:
            if _sqlstate(err) == "AB001":
                return self._done("cancelled", started, fields)
            if _sqlstate(err) == "AB002":
                return self._done("lost", started, fields)
            raise
        return self._done("completed", started, fields)

    def _fail(self, queue, claimed, err, started, fields) -> Outcome:
        duration = time.monotonic() - started
        error = f"{err.__class__.__name__}: {err}"
        try:
            self.conn.execute(
                "select absurd.fail_run(%s, %s, %s::jsonb, null)",
                (queue, claimed["run_id"], json.dumps(serialize_error(err))),
            )
        except psycopg.Error as db_err:
            if _sqlstate(db_err) in ("AB001", "AB002"):
                return self._done(
                    "cancelled" if _sqlstate(db_err) == "AB001" else "lost", started, fields
                )
            raise
        logger.warning("task.fail %s duration_ms=%d error=%s", fields, duration * 1000, error[:500])
        return Outcome("failed", duration, error)

    def _done(self, status: Status, started: float, fields: str) -> Outcome:
        duration = time.monotonic() - started
        logger.info("task.%s %s duration_ms=%d", status, fields, duration * 1000)
        return Outcome(status, duration)

    def _defer_unknown(self, queue: str, claimed: dict[str, Any]) -> None:
        name = claimed["task_name"]
        if self.unknown.first_time(name):
            logger.warning(
                "task.unknown name=%s queue=%s: no such task registered here; deferring",
                name,
                queue,
            )
        jitter = zlib.crc32(str(claimed["run_id"]).encode()) % (UNKNOWN_TASK_DEFER_JITTER + 1)
        self.conn.execute(
            "select absurd.schedule_run(%s, %s,"
            " absurd.current_time() + make_interval(secs => %s::int))",
            (queue, claimed["run_id"], UNKNOWN_TASK_DEFER_SECONDS + jitter),
        )


def _log_fields(queue: str, claimed: dict[str, Any]) -> str:
    tenant = (claimed.get("headers") or {}).get("tenant", "")
    return (
        f"task_id={claimed['task_id']} name={claimed['task_name']} queue={queue} "
        f"tenant={tenant} attempt={claimed['attempt']}"
    )
