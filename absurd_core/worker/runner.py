"""The worker: one claim loop, N execution threads, each with its own connection.

The claim loop claims in batches sized to free capacity, round-robin over the
queues, and hands claimed runs to the execution threads through an in-memory
queue. It sleeps on a ``threading.Event`` between polls, so a finished task or
a shutdown signal wakes it at once.

Threads, not asyncio: task code is ordinary blocking Python, and the
predecessor system learnt that asyncio workers could look healthy while every
task was stuck (see docs/worker.md).
"""

from __future__ import annotations

import logging
import os
import queue as queue_mod
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from absurd_core.registry import TaskRegistry
from absurd_core.worker.connection import connect
from absurd_core.worker.executor import Executor

logger = logging.getLogger("absurd_core.worker")

CLAIM_SQL = (
    "select run_id, task_id, attempt, task_name, params, retry_strategy, max_attempts,"
    " headers, wake_event, event_payload from absurd.claim_task(%s, %s, %s, %s)"
)
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerConfig:
    queues: list[str]
    concurrency: int = 4
    batch: int | None = None
    claim_timeout: int = 60
    poll_interval: float = 1.0
    grace: float = 30.0
    worker_id: str = field(default_factory=default_worker_id)

    @property
    def batch_size(self) -> int:
        return self.batch or self.concurrency


@dataclass
class Stats:
    processed: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: str) -> None:
        with self.lock:
            self.processed += 1
            if status == "failed":
                self.failed += 1


class Worker:
    def __init__(self, config: WorkerConfig, registry: TaskRegistry):
        self.config = config
        self.registry = registry
        self.stats = Stats()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self._work: queue_mod.Queue[tuple[str, dict[str, Any]]] = queue_mod.Queue()
        self._inflight: dict[int, tuple[str, Any]] = {}
        self._inflight_lock = threading.Lock()
        self._pending = 0  # claimed and not yet finished
        self._threads: list[threading.Thread] = []
        self._claim_conn: psycopg.Connection | None = None

    # -- public -------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop claiming; in-flight tasks get ``grace`` seconds to finish."""
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        cfg = self.config
        logger.info(
            "worker.start worker_id=%s queues=%s concurrency=%d batch=%d",
            cfg.worker_id,
            ",".join(cfg.queues),
            cfg.concurrency,
            cfg.batch_size,
        )
        for index in range(cfg.concurrency):
            thread = threading.Thread(
                target=self._execution_loop, name=f"absurd-exec-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        try:
            self._claim_loop()
        finally:
            self._shutdown()

    # -- claim loop ---------------------------------------------------------

    def _claim_loop(self) -> None:
        failures = 0
        rotation = 0
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                claimed = self._claim_round(rotation)
                failures = 0
            except psycopg.OperationalError as exc:
                self._drop_claim_conn()
                delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
                failures += 1
                logger.warning("worker.db_error %s; reconnecting in %.2fs", _one_line(exc), delay)
                self.stopping.wait(delay)
                continue
            rotation += 1
            if claimed == 0 or self._free() == 0:
                self.wake.wait(self.config.poll_interval)

    def _free(self) -> int:
        with self._inflight_lock:
            return self.config.concurrency - self._pending

    def _claim_round(self, rotation: int) -> int:
        queues = self.config.queues
        total = 0
        for offset in range(len(queues)):
            free = self._free()
            if free <= 0 or self.stopping.is_set():
                break
            queue = queues[(rotation + offset) % len(queues)]
            rows = self._claim(queue, min(self.config.batch_size, free))
            with self._inflight_lock:
                self._pending += len(rows)
            for row in rows:
                self._work.put((queue, row))
            total += len(rows)
        return total

    def _claim(self, queue: str, qty: int) -> list[dict[str, Any]]:
        if self._claim_conn is None or self._claim_conn.closed:
            self._claim_conn = connect(application_name=f"absurd-claim {self.config.worker_id}")
        with self._claim_conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                CLAIM_SQL, (queue, self.config.worker_id, self.config.claim_timeout, qty)
            )
            return cursor.fetchall()

    def _drop_claim_conn(self) -> None:
        if self._claim_conn is not None:
            try:
                self._claim_conn.close()
            except Exception:
                logger.debug("closing claim connection failed", exc_info=True)
        self._claim_conn = None

    # -- execution threads --------------------------------------------------

    def _execution_loop(self) -> None:
        executor: Executor | None = None
        ident = threading.get_ident()
        while True:
            try:
                queue, claimed = self._work.get(timeout=0.2)
            except queue_mod.Empty:
                if self.stopping.is_set():
                    break
                continue
            with self._inflight_lock:
                self._inflight[ident] = (queue, claimed["run_id"])
            try:
                if executor is None or executor.conn.closed:
                    conn = connect(application_name=f"absurd-exec {self.config.worker_id}")
                    executor = Executor(conn, self.registry, self.config.claim_timeout)
                outcome = executor.run(queue, claimed)
                self.stats.record(outcome.status)
            except psycopg.OperationalError as exc:
                # The lease expires and another claim picks the run up again.
                logger.warning("worker.db_error during task %s: %s", claimed["task_id"], exc)
                if executor is not None:
                    executor.conn.close()
                executor = None
            except BaseException:
                logger.exception("worker.crash in task %s", claimed["task_id"])
            finally:
                with self._inflight_lock:
                    self._inflight.pop(ident, None)
                    self._pending -= 1
                self.wake.set()
        if executor is not None:
            executor.conn.close()

    # -- shutdown -----------------------------------------------------------

    def _shutdown(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + self.config.grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        unfinished = self._release_unfinished()
        self._drop_claim_conn()
        logger.info(
            "worker.stop worker_id=%s processed=%d failed=%d released=%d",
            self.config.worker_id,
            self.stats.processed,
            self.stats.failed,
            unfinished,
        )

    def _release_unfinished(self) -> int:
        """Give runs still executing after the grace period back to the queue now."""
        leftovers: list[tuple[str, Any]] = []
        with self._inflight_lock:
            leftovers.extend(self._inflight.values())
        while True:
            try:
                queue, claimed = self._work.get_nowait()
            except queue_mod.Empty:
                break
            leftovers.append((queue, claimed["run_id"]))
        if not leftovers:
            return 0
        try:
            with connect(application_name=f"absurd-release {self.config.worker_id}") as conn:
                for queue, run_id in leftovers:
                    try:
                        conn.execute(
                            "select absurd.schedule_run(%s, %s, absurd.current_time())",
                            (queue, run_id),
                        )
                    except psycopg.Error as exc:
                        logger.warning("worker.release_failed run_id=%s: %s", run_id, exc)
        except psycopg.Error as exc:
            logger.warning("worker.release_failed: %s", _one_line(exc))
        return len(leftovers)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"
