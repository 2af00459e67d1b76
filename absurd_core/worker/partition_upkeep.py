"""The weeks ahead of every partitioned queue (issue 21, item 4), without pg_cron.

Upstream Absurd's partitioned queues get one partition per ISO week and a default one.
``absurd.ensure_partitions`` creates the weeks within each queue's lookahead; upstream
expects pg_cron to call it (``absurd.schedule_detach_jobs``). Without it, no new week is
ever created: rows land in the default partition, which grows without bound, and a week
created later over rows already in the default one fails. So the worker's housekeeping
calls it, at most every ``ENSURE_EVERY`` seconds per worker process, for every partitioned
queue (not only the ones this worker serves).

One worker at a time: the call runs under a transaction-scoped advisory lock that the
others skip rather than wait for, with a short ``lock_timeout`` for the DDL, so a busy
queue's parent is never held up for long. ``create table if not exists`` makes the call
idempotent; a week that exists costs a catalog look-up.
"""

from __future__ import annotations

import time

import psycopg

ENSURE_EVERY = 3600.0
#: pg_try_advisory_xact_lock key: hashtext('absurd_control.ensure_partitions').
LOCK = "select pg_try_advisory_xact_lock(hashtext('absurd_control.ensure_partitions'))"


class PartitionUpkeep:
    def __init__(self, every: float = ENSURE_EVERY):
        self.every = every
        self._next = 0.0

    def maybe_ensure(self, conn: psycopg.Connection) -> bool | None:
        """Ensure the weeks ahead when due: True when done, False when another worker held
        the lock, None when it was not due."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.every
        with conn.transaction():
            if not conn.execute(LOCK).fetchone()[0]:
                return False
            conn.execute("set local lock_timeout = '2s'")
            conn.execute("select absurd.ensure_partitions()")
        return True
