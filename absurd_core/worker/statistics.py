"""Keep the planner's statistics of busy queue tables fresh.

absurd.claim_task picks runs with ``order by available_at limit n``. Right
after a bulk spawn (thousands of tasks in seconds) the table's statistics still
describe the empty table, and the planner sorts the whole backlog on every
claim instead of walking the live-runs index: measured at 17 ms instead of
0.2 ms per claim with 10,000 runs waiting. Autovacuum re-analyzes eventually
(within about a minute); the worker does not wait for it.

A table is analyzed when it changed more rows since its last analyze than it
had then, and at least ``MIN_CHANGES``. ANALYZE samples a bounded number of
rows, so it stays cheap on big tables; a lock timeout keeps two workers (or
autovacuum) from queueing behind each other.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from psycopg import sql

from absurd_core.worker.connection import LazyConnection

logger = logging.getLogger("absurd_core.worker")

MIN_CHANGES = 1000

STALE_SQL = """
select s.relname
  from pg_stat_user_tables s
  join pg_class c on c.oid = s.relid
 where s.schemaname = 'absurd'
   and s.relname = any(%(tables)s)
   and s.n_mod_since_analyze >= %(min_changes)s
   and s.n_mod_since_analyze > greatest(c.reltuples, 0)
 order by s.relname
"""


def queue_tables(queues: list[str]) -> list[str]:
    """The tables a claim reads: runs and tasks."""
    return [f"{prefix}{queue}" for queue in queues for prefix in ("r_", "t_")]


def refresh_stale_statistics(conn: psycopg.Connection, queues: list[str]) -> list[str]:
    """ANALYZE the queue tables whose statistics are stale; returns their names."""
    stale = [
        row[0]
        for row in conn.execute(
            STALE_SQL, {"tables": queue_tables(queues), "min_changes": MIN_CHANGES}
        ).fetchall()
    ]
    return analyze_tables(conn, stale, "statistics were stale")


# -- Right after a bulk spawn: the worker notices the backlog (issue 20, item 3) ----------
#
# The rule above needs the changed rows to outnumber the table, so a queue with a
# large history (100,000 finished tasks) that gets 5,000 new runs in a second stays
# "fresh" while its statistics still say no run is pending: the claim's candidate
# query is then planned for an empty backlog (5.3 ms per claim instead of 0.87 in
# issue 20's measurement). What matters is the planner's estimate of *live* runs.
# So whenever a claim comes back full (a backlog), at most once a second per queue,
# the watch compares the planner's estimate of pending and sleeping runs (EXPLAIN of
# that predicate) with a bounded count of them, and ANALYZEs the queue's runs and
# tasks tables when the count exceeds the estimate by JUMP_FACTOR (and MIN_CHANGES).

#: The live-run count must exceed the planner's estimate by this factor.
JUMP_FACTOR = 4
#: At most one look per queue per this many seconds.
LOOK_EVERY_SECONDS = 1.0
#: Counting stops at JUMP_FACTOR x the estimate, and never goes past this; a planner that
#: already expects this many / JUMP_FACTOR live runs plans the claim well enough.
COUNT_CAP = 20_000

EXPLAIN_LIVE = sql.SQL(
    "explain (format json) select 1 from absurd.{} where state in ('pending', 'sleeping')"
)
COUNT_LIVE = sql.SQL(
    "select count(*) from"
    " (select 1 from absurd.{} where state in ('pending', 'sleeping') limit %s) s"
)


def live_runs_jumped(conn: psycopg.Connection, queue: str) -> tuple[bool, float, int]:
    """(jumped, the planner's estimate of live runs, their count up to COUNT_CAP)."""
    runs = sql.Identifier(f"r_{queue}")
    plan = conn.execute(EXPLAIN_LIVE.format(runs)).fetchone()[0]
    estimate = float(plan[0]["Plan"]["Plan Rows"])
    needed = max(MIN_CHANGES, int(JUMP_FACTOR * estimate) + 1)
    if needed > COUNT_CAP:
        return False, estimate, 0
    count = conn.execute(COUNT_LIVE.format(runs), (needed,)).fetchone()[0]
    return count >= needed, estimate, count


def analyze_tables(conn: psycopg.Connection, tables: list[str], why: str) -> list[str]:
    """ANALYZE these absurd tables, skipping any someone else is analyzing right now."""
    analyzed = []
    for table in tables:
        try:
            with conn.transaction():
                conn.execute("set local lock_timeout = '200ms'")
                conn.execute(sql.SQL("analyze absurd.{}").format(sql.Identifier(table)))
        except psycopg.errors.LockNotAvailable:
            continue
        analyzed.append(table)
        logger.info("worker.analyzed table=absurd.%s (%s)", table, why)
    return analyzed


def refresh_after_jump(conn: psycopg.Connection, queue: str) -> list[str]:
    """ANALYZE the queue's runs and tasks tables if its live runs jumped; their names."""
    jumped, estimate, count = live_runs_jumped(conn, queue)
    if not jumped:
        return []
    why = f"live runs jumped: {count} counted, {estimate:.0f} estimated"
    return analyze_tables(conn, queue_tables([queue]), why)


class StatisticsWatch(threading.Thread):
    """A helper thread of the worker: looks at a queue when the claim loop saw a backlog.

    ``noticed(queue)`` is cheap and never blocks the claim loop; the look (EXPLAIN and
    a bounded count, then ANALYZE if needed) runs here, on this thread's connection
    (``absurd-statistics <worker_id>``, opened on the first look).
    """

    def __init__(self, stopping: threading.Event, name: str):
        super().__init__(name="absurd-statistics", daemon=True)
        self.stopping = stopping
        self._wanted: set[str] = set()
        self._last_look: dict[str, float] = {}
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._conn = LazyConnection(f"absurd-statistics {name}")

    def noticed(self, queue: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_look.get(queue, -LOOK_EVERY_SECONDS) < LOOK_EVERY_SECONDS:
                return
            self._last_look[queue] = now
            self._wanted.add(queue)
        self._event.set()

    def wake(self) -> None:
        """Let the thread see ``stopping`` at once."""
        self._event.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            self._event.wait()
            self._event.clear()
            with self._lock:
                queues, self._wanted = sorted(self._wanted), set()
            for queue in queues:
                if self.stopping.is_set():
                    break
                try:
                    refresh_after_jump(self._conn.get(), queue)
                except psycopg.Error as exc:
                    logger.debug("worker.statistics_failed queue=%s: %s", queue, exc)
                    self._conn.close()
        self._conn.close()
