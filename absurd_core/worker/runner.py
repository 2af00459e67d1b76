"""The worker: one claim loop and N execution threads, each with its own connection.

- The claim loop (the main thread) claims in batches sized to free capacity,
  round-robin over the queues, and hands runs to the execution threads through
  an in-memory queue.
- Between claims it sleeps on one ``threading.Event``, set by a finished task,
  by a NOTIFY from the wake-up listener (wakeups.py), by a shutdown signal, or by the timer for the
  next known wake-up time; polling is only the fallback.
- Mixed fleets (other workers, e.g. absurd-sdk's, on the same queues): runs of
  tasks this worker cannot execute are handed back with a growing, randomised
  backoff (executor.py); the timer ignores them; and a queue whose claimed runs
  were all such runs is not claimed from again until something changes there:
  a NOTIFY not caused by this worker, a known task of that queue settling, the
  timer (a known run or a lease falling due), or a wake-up listener reconnect. So the
  other workers get their runs, and this worker does not hog them.
- Helper threads: the wake-up listener (LISTEN/NOTIFY), the lease keeper (extends
  claims of long tasks), housekeeping (registry row, queue equipment) and the
  schedule ticker (schedules.py: fires due recurring schedules).

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
from psycopg import sql
from psycopg.rows import dict_row

from absurd_core.errors import first_line
from absurd_core.hooks import ClaimAdmission, claim_admission
from absurd_core.listeners import registered_listeners
from absurd_core.registry import TaskRegistry
from absurd_core.worker.async_executor import AsyncExecutor
from absurd_core.worker.coalescing import COALESCE_SECONDS, claim_now
from absurd_core.worker.connection import LazyConnection, connect, reconnect_delay
from absurd_core.worker.executor import ConnectionLostBeforeStart, Executor, UnknownTasks
from absurd_core.worker.housekeeping import Housekeeping
from absurd_core.worker.lease_clock import LeaseClock
from absurd_core.worker.leases import InFlight, LeaseKeeper
from absurd_core.worker.lifecycle_pump import LifecyclePump
from absurd_core.worker.schedules import ScheduleTicker
from absurd_core.worker.statistics import StatisticsWatch
from absurd_core.worker.wakeups import WakeupListener

logger = logging.getLogger("absurd_core.worker")


# The claim also applies the registered claim admission to each run (absurd_core/hooks.py;
# tenants' concurrency limit, tenants/sql/concurrency.sql: a run over the limit is parked
# again inside the same statement, admitted is false, and the worker forgets it) and
# loads each admitted run's checkpoints (through the engine's own function), saving every
# task a round trip before its code starts. A task without any checkpoint row skips the
# engine function (absurd_core/sql/claim_preload.sql: one probe instead of two dynamic
# statements).
def claim_sql(admission: ClaimAdmission | None) -> str:
    return (
        "select c.*, case when c.admitted then"  # noqa: S608 (constants only)
        # A task with no checkpoint row (most runs: a first attempt) has none to load.
        " case when absurd_control.has_checkpoints(%(queue)s, c.task_id) then"
        " (select coalesce(jsonb_object_agg(s.checkpoint_name, s.state), '{}'::jsonb)"
        "    from absurd.get_task_checkpoint_states(%(queue)s, c.task_id, c.run_id) s)"
        " else '{}'::jsonb end"
        " end as checkpoints"
        " from (select c.run_id, c.task_id, c.attempt, c.task_name, c.params, c.retry_strategy,"
        "   c.max_attempts, c.headers, c.wake_event, c.event_payload,"
        "   " + (admission.sql if admission else "true") + " as admitted"
        "   from absurd.claim_task(%(queue)s, %(worker)s, %(timeout)s, %(qty)s) c"
        # A one-time filter: on a paused queue, claim_task is not called at all.
        "   where not absurd_control.queue_paused(%(queue)s)"
        "   offset 0) c"  # offset 0: admit every run once, before loading checkpoints
    )


def __getattr__(name: str) -> str:
    # ``CLAIM_SQL``: the claim statement with the registered admission (tests).
    if name == "CLAIM_SQL":
        return claim_sql(claim_admission())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Only a run this worker still owns: never one another worker has since reclaimed.
RELEASE_SQL = sql.SQL(
    "select absurd.schedule_run(%s, r.run_id, absurd.current_time())"
    " from absurd.{} r where r.run_id = %s and r.state = 'running' and r.claimed_by = %s"
)


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
        if status == "deferred":
            return
        with self.lock:
            self.processed += 1
            if status == "failed":
                self.failed += 1


def next_wakeup_sql(queues: list[str], registry: TaskRegistry) -> sql.Composed:
    """Seconds until the next moment a claim would find work for us in these queues.

    That is the earliest finite wake-up of a live run of a task this worker runs
    (served by the live-runs index, in available_at order, stopping at the first
    run of a known name) or the earliest lease expiry (upstream's r_<queue>_cei
    index), since claim_task is what fails an expired lease and schedules its
    retry. Runs of other workers' tasks set no timer: waking at their
    available_at would win their claim again from the worker that runs them.
    """
    parts = []
    for queue in queues:
        runs, tasks = sql.Identifier(f"r_{queue}"), sql.Identifier(f"t_{queue}")
        names = sorted(s.name for s in registry if s.queue == queue and not s.external)
        if names:
            parts.append(
                sql.SQL(
                    "(select r.available_at as at from absurd.{} r"
                    " where r.state in ('pending', 'sleeping') and r.available_at < 'infinity'"
                    # A paused queue's due runs are no reason to wake: claims find nothing.
                    " and not absurd_control.queue_paused({})"
                    " and exists (select from absurd.{} t"
                    "             where t.task_id = r.task_id and t.task_name = any({}))"
                    " order by r.available_at limit 1)"
                ).format(runs, sql.Literal(queue), tasks, sql.Literal(names))
            )
        parts.append(
            sql.SQL(
                "(select min(claim_expires_at) as at from absurd.{}"
                " where state = 'running' and claim_expires_at is not null)"
            ).format(runs)
        )
    return sql.SQL(
        "select extract(epoch from min(at) - absurd.current_time()) from ({}) as w"
    ).format(sql.SQL(" union all ").join(parts))


class Worker:
    def __init__(self, config: WorkerConfig, registry: TaskRegistry):
        self.config = config
        self.registry = registry
        self.stats = Stats()
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.wake = threading.Event()
        self.unknown_tasks = UnknownTasks()
        # Built once: the same statement text on every claim (prepared statements).
        self._claim_sql = claim_sql(claim_admission())
        self._claim_sent = time.monotonic()  # when the last claim statement was sent
        self.claims = 0  # claim statements sent (bench: claims per task)
        # Queues whose last claim found only runs of tasks this worker cannot execute:
        # not claimed from until something changes there (see the module docstring).
        self._foreign_only: set[str] = set()
        # News (NOTIFYs of other sessions, reconnects) per queue, counted: a queue is set
        # aside only if no news came while the claim that found only others' runs ran,
        # or a spawn notified during that claim would be missed until the next news.
        self._news: dict[str | None, int] = {}
        # Queues whose last claim found nothing, with until when (monotonic): not claimed
        # from again until news for them (any NOTIFY, ours too), the queue's own next known
        # wake-up, or the poll interval; so a busy queue's claims do not each cost a
        # claim on every idle one.
        self._empty: dict[str, float] = {}
        self._queue_wakeup_sql = {
            queue: next_wakeup_sql([queue], registry) for queue in config.queues
        }
        self._any_news: dict[str | None, int] = {}
        # Server process ids of this worker's execution connections, by thread: their
        # own hand-backs NOTIFY too, and are no news.
        self._own_pids: dict[str, int] = {}
        self._work: queue_mod.Queue[tuple[str, dict[str, Any]]] = queue_mod.Queue()
        # Every run this worker holds a claim on, buffered or executing, by run id.
        self._claimed: dict[Any, InFlight] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._claim_conn = LazyConnection(f"absurd-claim {self.config.worker_id}")
        self._queue_errors: dict[str, str] = {}
        self._next_wakeup_sql = next_wakeup_sql(config.queues, registry)
        self.wakeups = WakeupListener(
            config.queues, self._notified, self.stopping, config.worker_id
        )
        self.leases = LeaseKeeper(
            self._claimed_snapshot, config.claim_timeout, self.done, config.worker_id
        )
        self.housekeeping = Housekeeping(
            worker_id=config.worker_id,
            queues=config.queues,
            concurrency=config.concurrency,
            counters=self._counters,
            done=self.done,
        )
        # ``async def`` tasks run on one event loop beside the threads, if there are any.
        self.async_tasks = (
            AsyncExecutor(
                worker_id=config.worker_id,
                connections=2 * config.concurrency,
                claim_timeout=config.claim_timeout,
                lookup=registry.runnable,
                started=self._async_started,
                settled=self._async_settled,
                release=self._release_claimed,
                own_pid=self._own_pid,
            )
            if any(spec.is_async for spec in registry if spec.queue in config.queues)
            else None
        )
        # Plugin lifecycle listeners, fed only by workers of a deployment that has some.
        listeners = registered_listeners()
        self.lifecycle_pump = (
            LifecyclePump(listeners, self.done, config.worker_id) if listeners else None
        )
        # Recurring schedules: every worker ticks them (worker/schedules.py).
        self.schedules = ScheduleTicker(self.stopping, config.worker_id)
        # Planner statistics right after a bulk spawn (worker/statistics.py).
        self.statistics = StatisticsWatch(self.stopping, config.worker_id)

    # -- public -------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop claiming; in-flight tasks get ``grace`` seconds to finish."""
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        cfg = self.config
        logger.info(
            "worker.start worker_id=%s queues=%s concurrency=%d batch=%d claim_timeout=%d",
            cfg.worker_id,
            ",".join(cfg.queues),
            cfg.concurrency,
            cfg.batch_size,
            cfg.claim_timeout,
        )
        self.housekeeping.beat()
        helpers = (
            self.wakeups,
            self.leases,
            self.housekeeping,
            self.lifecycle_pump,
            self.schedules,
            self.async_tasks,
            self.statistics,
        )
        for helper in helpers:
            if helper is not None:
                helper.start()
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
            self._coalesce()
            self.wake.clear()
            try:
                requested, claimed, skipped = self._claim_round(rotation)
                timeout, timed = self.config.poll_interval, False
                # Dry: the queues ran out, or every queue is one of others' runs only.
                dry = claimed < requested or (skipped and not requested)
                if dry:
                    # Sleep until the next known wake-up at most.
                    timeout, timed = self._until_next_wakeup(timeout)
                if failures:
                    logger.info("worker.db_reconnected after %d attempt(s)", failures)
                failures = 0
            except psycopg.OperationalError as exc:
                self._drop_claim_conn()
                delay = reconnect_delay(failures)
                failures += 1
                if failures == 1:
                    logger.warning("worker.db_error %s; reconnecting with backoff", _one_line(exc))
                self.stopping.wait(delay)
                continue
            rotation += 1
            if dry or self._free() == 0:
                # Woken by a finished task, a NOTIFY, a signal or the timer.
                woken = self.wake.wait(timeout)
                if not woken:
                    # The timer (a known run or a lease is due, maybe on a queue set aside)
                    # or the poll interval: look at every queue again.
                    if timed:
                        self._look_again()
                    else:
                        with self._lock:
                            self._empty.clear()

    def _coalesce(self) -> None:
        """Under load, let finishes gather into one claim (worker/coalescing.py).

        Returns at once when the buffer is empty (an idle worker, a thread about to
        starve) or a batch is free; else after ``COALESCE_SECONDS`` at most.
        """
        batch = min(self.config.batch_size, 2 * self.config.concurrency)
        deadline = None
        while not self.stopping.is_set():
            free = self._free()
            if free <= 0 or claim_now(free, self._work.qsize(), batch):
                return
            now = time.monotonic()
            if deadline is None:
                deadline = now + COALESCE_SECONDS
            elif now >= deadline:
                return
            self.wake.clear()
            self.wake.wait(deadline - now)

    def _free(self) -> int:
        """Runs the worker may claim now: threads free plus a local buffer of one per thread.

        The buffer keeps a claimed run ready for each thread as it finishes, so
        threads never wait on a claim round trip, and lets claims come in batches.
        """
        with self._lock:
            return 2 * self.config.concurrency - len(self._claimed)

    def _notified(self, queue: str | None, pid: int | None) -> None:
        """Wake-up news: a run of ``queue`` became claimable or got a wake-up time."""
        with self._lock:
            self._any_news[queue] = self._any_news.get(queue, 0) + 1
            if queue is None:
                self._empty.clear()
            else:
                self._empty.pop(queue, None)
            if queue is None:
                self._foreign_only.clear()  # after a reconnect: anything may have changed
                self._news[None] = self._news.get(None, 0) + 1
            elif pid not in self._own_pids.values():
                self._foreign_only.discard(queue)
                self._news[queue] = self._news.get(queue, 0) + 1
        self.wake.set()

    def _news_of(self, queue: str) -> tuple[int, int]:
        """How much news of ``queue`` (and of everything) has come so far; under the lock."""
        return self._news.get(queue, 0), self._news.get(None, 0)

    def _look_again(self, queue: str | None = None) -> None:
        with self._lock:
            if queue is None:
                self._foreign_only.clear()
                self._empty.clear()
            else:
                self._foreign_only.discard(queue)
                self._empty.pop(queue, None)

    def _claim_round(self, rotation: int) -> tuple[int, int, int]:
        """Claim from each queue in turn: (runs requested, runs claimed, queues skipped)."""
        queues = self.config.queues
        requested = claimed = skipped = 0
        for offset in range(len(queues)):
            free = self._free()
            if free <= 0 or self.stopping.is_set():
                break
            queue = queues[(rotation + offset) % len(queues)]
            with self._lock:
                if queue in self._foreign_only:
                    skipped += 1
                    continue
                if time.monotonic() < self._empty.get(queue, 0.0):
                    skipped += 1
                    continue
                news = self._news_of(queue)
                any_news = self._any_news.get(queue, 0), self._any_news.get(None, 0)
            qty = min(self.config.batch_size, free)
            requested += qty  # counted even when the claim fails, so the loop then waits
            try:
                rows = self._claim(queue, qty)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                # One broken queue (dropped while we serve it, say) must not stop the others.
                self._queue_error(queue, exc)
                continue
            # Runs over their tenant's concurrency limit were parked by the claim itself;
            # they still count as claimed, so the loop claims again at once.
            admitted = [row for row in rows if row.pop("admitted")]
            with self._lock:
                foreign_only = rows and not any(self._runnable(queue, row) for row in rows)
                if foreign_only and self._news_of(queue) == news:
                    # Only others' runs were due here: handed back, and this queue is left
                    # to the workers that run them until something changes (news that came
                    # during this claim may be a run the claim did not see yet).
                    self._foreign_only.add(queue)
                if rows:
                    self._empty.pop(queue, None)
            if not rows:
                # Nothing here: leave this queue until news or its next wake-up.
                self._set_aside_empty(queue, any_news)
            with self._lock:
                for row in admitted:
                    # The lease runs from before the claim was sent (lease_clock.py); the
                    # context skips checkpoint look-ups while it is known to be held.
                    lease = LeaseClock(self.config.claim_timeout, self._claim_sent)
                    row["_lease"] = lease
                    self._claimed[row["run_id"]] = InFlight(
                        queue, row["run_id"], row["task_id"], lease=lease
                    )
            for row in admitted:
                if self.async_tasks is not None and self._is_async(queue, row):
                    self.async_tasks.submit(queue, row)
                else:
                    self._work.put((queue, row))
            if rows and len(rows) == qty:
                # A full claim: a backlog. Its statistics may predate it (a bulk spawn).
                self.statistics.noticed(queue)
            claimed += len(rows)
        return requested, claimed, skipped

    def _set_aside_empty(self, queue: str, news_before: tuple[int, int]) -> None:
        """Skip an empty queue until its next known wake-up (at most the poll interval).

        Not if news of it came since the claim started (``news_before``): that may be a
        run the claim did not see yet.
        """
        seconds = self.config.poll_interval
        try:
            found = self._claim_connection().execute(self._queue_wakeup_sql[queue]).fetchone()[0]
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            return  # reported by the claim; keep claiming from it
        if found is not None:
            seconds = min(seconds, max(0.0, float(found)))
        if seconds > 0:
            with self._lock:
                if (self._any_news.get(queue, 0), self._any_news.get(None, 0)) == news_before:
                    self._empty[queue] = time.monotonic() + seconds

    def _runnable(self, queue: str, row: dict[str, Any]) -> bool:
        return self.registry.runnable(row["task_name"], queue) is not None

    def _is_async(self, queue: str, row: dict[str, Any]) -> bool:
        spec = self.registry.runnable(row["task_name"], queue)
        return spec is not None and spec.is_async

    def _queue_error(self, queue: str, exc: psycopg.Error) -> None:
        message = _one_line(exc)
        if self._queue_errors.get(queue) != message:
            logger.warning("worker.queue_error queue=%s %s", queue, message)
        self._queue_errors[queue] = message

    def _claim(self, queue: str, qty: int) -> list[dict[str, Any]]:
        self.claims += 1
        self._claim_sent = time.monotonic()
        with self._claim_connection().cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                self._claim_sql,
                {
                    "queue": queue,
                    "worker": self.config.worker_id,
                    "timeout": self.config.claim_timeout,
                    "qty": qty,
                },
            )
            return cursor.fetchall()

    def _until_next_wakeup(self, poll: float) -> tuple[float, bool]:
        """Sleep no longer than until the next known wake-up time (timed sleeps).

        Returns the timeout and whether it is the timer's (not the poll interval's).
        """
        try:
            seconds = self._claim_connection().execute(self._next_wakeup_sql).fetchone()[0]
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            # A broken queue (dropped under us, say) was reported by the claim. Without a
            # timer nothing would bring back a queue set aside: look at every queue again.
            self._look_again()
            return poll, False
        if seconds is None or float(seconds) > poll:
            return poll, False
        return max(0.0, float(seconds)), True

    def _claim_connection(self) -> psycopg.Connection:
        return self._claim_conn.get()

    def _drop_claim_conn(self) -> None:
        self._claim_conn.close()

    # -- execution threads --------------------------------------------------

    def _execution_loop(self) -> None:
        executor: Executor | None = None
        while not self.stopping.is_set():
            try:
                queue, claimed = self._work.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            if self.stopping.is_set():
                # Stopping: buffered runs are released, not started.
                self._work.put((queue, claimed))
                break
            with self._lock:
                self._claimed[claimed["run_id"]].started = True
            try:
                if executor is None or executor.conn.closed:
                    executor = self._new_executor()
                try:
                    outcome = executor.run(queue, claimed)
                except ConnectionLostBeforeStart:
                    # An idle connection died (e.g. a database restart); no task code
                    # ran, so run it again on a fresh connection.
                    executor.conn.close()
                    executor = self._new_executor()
                    outcome = executor.run(queue, claimed)
                self.stats.record(outcome.status)
                if outcome.status != "deferred":
                    # One of our tasks of this queue settled: its retry or its next
                    # run may be due there now.
                    self._look_again(queue)
            except psycopg.OperationalError as exc:
                # The connection died under the task (a database restart). Give the run
                # back at once on a new connection, so it resumes from its last checkpoint
                # without waiting for its lease to expire (which would also cost an
                # attempt); if the database is still down, the lease expiry does it later.
                logger.warning("worker.db_error during task %s: %s", claimed["task_id"], exc)
                if executor is not None:
                    executor.conn.close()
                executor = None
                with self._lock:
                    run = self._claimed.get(claimed["run_id"])
                if run is not None:
                    self._release([run])
            except BaseException:
                # Task code raised SystemExit/KeyboardInterrupt; the executor settled the
                # run as failed before re-raising. The thread carries on.
                self.stats.record("failed")
                logger.exception("worker.crash in task %s", claimed["task_id"])
            finally:
                with self._lock:
                    self._claimed.pop(claimed["run_id"], None)
                self.wake.set()
        if executor is not None:
            executor.conn.close()

    def _new_executor(self) -> Executor:
        conn = connect(application_name=f"absurd-exec {self.config.worker_id}")
        with self._lock:
            self._own_pids[threading.current_thread().name] = conn.info.backend_pid
        return Executor(conn, self.registry, self.config.claim_timeout, self.unknown_tasks)

    # -- async tasks (async_executor.py calls these from its loop thread) -----

    def _async_started(self, run_id: Any) -> None:
        with self._lock:
            run = self._claimed.get(run_id)
            if run is not None:
                run.started = True

    def _async_settled(self, queue: str, claimed: dict[str, Any], status: str | None) -> None:
        """As at the end of an execution thread's task (status None: released)."""
        if status is not None:
            self.stats.record(status)
            if status != "deferred":
                self._look_again(queue)
        with self._lock:
            self._claimed.pop(claimed["run_id"], None)
        self.wake.set()

    def _release_claimed(self, queue: str, claimed: dict[str, Any]) -> None:
        with self._lock:
            run = self._claimed.get(claimed["run_id"])
        if run is not None:
            self._release([run])

    def _own_pid(self, name: str, pid: int) -> None:
        with self._lock:
            self._own_pids[name] = pid

    def _claimed_snapshot(self) -> list[InFlight]:
        with self._lock:
            return list(self._claimed.values())

    def _counters(self) -> tuple[int, int, int]:
        with self._lock:
            in_flight = sum(1 for run in self._claimed.values() if run.started)
        return in_flight, self.stats.processed, self.stats.failed

    # -- shutdown -----------------------------------------------------------

    def _shutdown(self) -> None:
        self.stopping.set()
        self.statistics.wake()
        # Runs claimed but not started go back to the queue at once.
        released = self._release(self._drain_buffer())
        deadline = time.monotonic() + self.config.grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.async_tasks is not None:
            # Async tasks get what is left of the grace period; the rest are cancelled.
            self.async_tasks.stop(deadline)
        # Whatever is still executing after the grace period is released too.
        released += self._release(self._claimed_snapshot())
        self.done.set()
        self.schedules.join(timeout=5)  # it closes its connection as it stops
        self._drop_claim_conn()
        self.housekeeping.beat(stopped=True)
        self.housekeeping.close()
        logger.info(
            "worker.stop worker_id=%s processed=%d failed=%d released=%d claims=%d",
            self.config.worker_id,
            self.stats.processed,
            self.stats.failed,
            released,
            self.claims,
        )

    def _drain_buffer(self) -> list[InFlight]:
        runs = []
        while True:
            try:
                _, claimed = self._work.get_nowait()
            except queue_mod.Empty:
                return runs
            with self._lock:
                run = self._claimed.pop(claimed["run_id"], None)
            if run is not None:
                runs.append(run)

    def _release(self, runs: list[InFlight]) -> int:
        """Give runs this worker still owns back to the queue, claimable now."""
        if not runs:
            return 0
        released = 0
        try:
            with connect(application_name=f"absurd-release {self.config.worker_id}") as conn:
                for run in runs:
                    try:
                        cursor = conn.execute(
                            RELEASE_SQL.format(sql.Identifier(f"r_{run.queue}")),
                            (run.queue, run.run_id, self.config.worker_id),
                        )
                    except psycopg.Error as exc:
                        logger.warning("worker.release_failed run_id=%s: %s", run.run_id, exc)
                        continue
                    if cursor.rowcount:
                        released += 1
                        logger.info("worker.released run_id=%s queue=%s", run.run_id, run.queue)
        except psycopg.Error as exc:
            logger.warning("worker.release_failed: %s", _one_line(exc))
        return released


def _one_line(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {first_line(exc, '')}"
