"""Dropping chart aggregates no chart reads any more (absurd_core/sql/throughput.sql,
``absurd_control.prune_throughput``): minute buckets after 2 days, hour buckets after 8.

Called from the worker's housekeeping beat, but runs at most every ``PRUNE_EVERY``
seconds per worker process; each call deletes a bounded batch, so a backlog drains over
a few calls without a long statement. Several workers pruning at once delete disjoint
or already-deleted rows: harmless.
"""

from __future__ import annotations

import time

import psycopg

PRUNE_EVERY = 600.0


class ThroughputRetention:
    def __init__(self, every: float = PRUNE_EVERY):
        self.every = every
        self._next = 0.0

    def maybe_prune(self, conn: psycopg.Connection) -> int | None:
        """Prune when due; returns the rows deleted, or None when it was not due."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.every
        row = conn.execute("select absurd_control.prune_throughput()").fetchone()
        return int(row[0]) if row else 0
