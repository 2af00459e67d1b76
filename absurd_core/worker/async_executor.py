"""``async def`` tasks: one event loop per worker process, beside the execution threads.

The claim loop hands runs of async tasks here instead of to the threads
(runner.py). They run as asyncio tasks on one loop thread, sharing a few autocommit
``AsyncConnection``s (one statement at a time each; no connection is held while
task code awaits something else). Everything else is the worker's, as for sync
tasks: the claimed-runs table (so the lease keeper extends their leases and the
heartbeat counts them), the capacity (2 x concurrency claimed runs in all), the
statistics, the log lines, the shutdown grace, and the release of what is still
running after it.

A blocking call inside an async task (``time.sleep``, a sync HTTP client, the ORM
without ``sync_to_async``) blocks the loop and every other async task of the
worker: the author's problem, documented in docs/authoring.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import absurd_sdk
import psycopg
from absurd_sdk import CancelledTask, FailedTask, SuspendTask

from absurd_core.registry import TaskSpec
from absurd_core.worker.async_context import build_async_context
from absurd_core.worker.connection import connect_async
from absurd_core.worker.executor import (
    Outcome,
    fail_statement,
    log_done,
    log_failure,
    log_fields,
    settled_elsewhere,
)

logger = logging.getLogger("absurd_core.worker")

COMPLETE_SQL = "select absurd.complete_run(%s, %s, %s::jsonb)"


async def execute_async(
    conn: psycopg.AsyncConnection,
    spec: TaskSpec,
    queue: str,
    claimed: dict[str, Any],
    claim_timeout: int,
) -> Outcome:
    """Run one claimed run of an async task and settle it, as Executor.run does a sync one.

    ``asyncio.CancelledError`` (the worker stopping past its grace period) propagates
    and settles nothing: the worker releases the run.
    """
    started = time.monotonic()
    fields = log_fields(queue, claimed)
    ctx = await build_async_context(conn, queue, claimed, claim_timeout)
    logger.info("task.start %s", fields)
    token = absurd_sdk._current_task_context.set(ctx)
    try:
        result = await spec.handler(claimed["params"], ctx)  # type: ignore[misc]
        payload = json.dumps(result)
    except SuspendTask:
        return log_done("suspended", started, fields)
    except CancelledTask:
        return log_done("cancelled", started, fields)
    except FailedTask:
        return log_done("lost", started, fields)
    except asyncio.CancelledError:
        raise
    except Exception as err:
        return await _fail(conn, spec, queue, claimed, err, started, fields)
    except BaseException as err:
        await _fail(conn, spec, queue, claimed, err, started, fields)
        raise
    finally:
        absurd_sdk._current_task_context.reset(token)
    try:
        await conn.execute(COMPLETE_SQL, (queue, claimed["run_id"], payload))
    except psycopg.Error as err:
        status = settled_elsewhere(err)
        if status is not None:
            return log_done(status, started, fields)
        raise
    return log_done("completed", started, fields)


async def _fail(conn, spec, queue, claimed, err, started, fields) -> Outcome:
    duration = time.monotonic() - started
    try:
        await conn.execute(*fail_statement(queue, claimed, spec, err))
    except psycopg.Error as db_err:
        status = settled_elsewhere(db_err)
        if status is not None:
            return log_done(status, started, fields)
        raise
    return log_failure(fields, duration, err)


class AsyncExecutor:
    """The worker's event loop thread and its connections.

    The worker's callbacks: ``started(run_id)`` when task code starts,
    ``settled(queue, claimed, status)`` when the run is done with (status None: it
    was released), ``release(queue, claimed)`` to give a run back at once (its
    connection died under it), and ``own_pid(name, pid)`` for each connection (its
    NOTIFYs are no news to the claim loop).
    """

    def __init__(
        self,
        *,
        worker_id: str,
        connections: int,
        claim_timeout: int,
        lookup: Callable[[str, str], TaskSpec | None],
        started: Callable[[Any], None],
        settled: Callable[[str, dict[str, Any], str | None], None],
        release: Callable[[str, dict[str, Any]], None],
        own_pid: Callable[[str, int], None],
    ):
        self.worker_id = worker_id
        self.size = max(1, connections)
        self.claim_timeout = claim_timeout
        self._lookup = lookup
        self._started = started
        self._settled = settled
        self._release = release
        self._own_pid = own_pid
        self._conns: list[psycopg.AsyncConnection | None] = [None] * self.size
        self._next = 0
        self._tasks: set[asyncio.Task] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="absurd-async", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, queue: str, claimed: dict[str, Any]) -> None:
        """Start a claimed run on the loop (called from the claim loop's thread)."""
        self._loop.call_soon_threadsafe(self._spawn, queue, claimed)

    def in_flight(self) -> int:
        return len(self._tasks)

    def _spawn(self, queue: str, claimed: dict[str, Any]) -> None:
        task = self._loop.create_task(self._run(queue, claimed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self) -> tuple[int, psycopg.AsyncConnection]:
        index = self._next
        self._next = (self._next + 1) % self.size
        conn = self._conns[index]
        if conn is None or conn.closed:
            conn = await connect_async(application_name=f"absurd-async {self.worker_id}")
            self._conns[index] = conn
            self._own_pid(f"absurd-async-{index}", conn.info.backend_pid)
        return index, conn

    async def _run(self, queue: str, claimed: dict[str, Any]) -> None:
        status: str | None = None
        index: int | None = None
        try:
            spec = self._lookup(claimed["task_name"], queue)
            if spec is None:  # the claim loop routes only runs of registered async tasks
                raise RuntimeError(f"no async task {claimed['task_name']!r} on {queue}")
            index, conn = await self._connection()
            self._started(claimed["run_id"])
            outcome = await execute_async(conn, spec, queue, claimed, self.claim_timeout)
            status = outcome.status
        except asyncio.CancelledError:
            # Stopping past the grace period: the worker releases the run (still claimed).
            return
        except psycopg.OperationalError as exc:
            # The connection died under the task: give the run back at once (it resumes
            # from its last checkpoint), on a fresh connection next time.
            logger.warning("worker.db_error during task %s: %s", claimed["task_id"], exc)
            self._drop(index)
            await asyncio.to_thread(self._release, queue, claimed)
        except BaseException:
            status = "failed"
            logger.exception("worker.crash in task %s", claimed["task_id"])
        self._settled(queue, claimed, status)

    def _drop(self, index: int | None) -> None:
        if index is not None:
            conn, self._conns[index] = self._conns[index], None
            if conn is not None and not conn.closed:
                self._loop.create_task(conn.close())

    # -- shutdown -----------------------------------------------------------

    def stop(self, deadline: float) -> None:
        """Let running tasks finish until ``deadline`` (monotonic), cancel the rest
        (their runs stay claimed, for the worker to release), close the connections
        and end the loop."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._stop(deadline), self._loop)
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()) + 10)
        except Exception:
            logger.warning("worker.async_stop_failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _stop(self, deadline: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))
        pending = set(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        for conn in self._conns:
            if conn is not None and not conn.closed:
                await conn.close()
