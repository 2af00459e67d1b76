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

import psycopg
from psycopg import sql

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
    analyzed = []
    for table in stale:
        try:
            with conn.transaction():
                conn.execute("set local lock_timeout = '200ms'")
                conn.execute(sql.SQL("analyze absurd.{}").format(sql.Identifier(table)))
        except psycopg.errors.LockNotAvailable:
            continue  # someone (another worker, autovacuum) is analyzing it right now
        analyzed.append(table)
        logger.info("worker.analyzed table=absurd.%s (statistics were stale)", table)
    return analyzed
