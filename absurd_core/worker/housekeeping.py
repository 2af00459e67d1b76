"""Every few seconds: report this worker in the registry, equip new queues and
refresh stale planner statistics of its queues (absurd_core/worker/statistics.py);
less often, prune chart aggregates (throughput_retention.py) and create the coming
weeks' partitions of partitioned queues (partition_upkeep.py).

The registry row (absurd_core.models.Worker) is what ``manage.py workers`` and
the dashboard read. Equipping queues (absurd_control.install_all_queues) is the
fallback for databases where our role cannot own the event trigger that does it
at queue creation.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable

import psycopg

from absurd_core.errors import first_line
from absurd_core.models import WORKER_HEARTBEAT_SECONDS
from absurd_core.worker.connection import LazyConnection
from absurd_core.worker.partition_upkeep import PartitionUpkeep
from absurd_core.worker.statistics import refresh_stale_statistics
from absurd_core.worker.throughput_retention import ThroughputRetention

logger = logging.getLogger("absurd_core.worker")

UPSERT = """
insert into absurd_control_worker
  (worker_id, host, pid, queues, concurrency, started_at, last_seen, stopped_at,
   in_flight, processed, failed)
values (%(worker_id)s, %(host)s, %(pid)s, %(queues)s::jsonb, %(concurrency)s, now(), now(), null,
        %(in_flight)s, %(processed)s, %(failed)s)
on conflict (worker_id) do update
   set host = excluded.host, pid = excluded.pid, queues = excluded.queues,
       concurrency = excluded.concurrency, last_seen = now(), stopped_at = null,
       in_flight = excluded.in_flight, processed = excluded.processed, failed = excluded.failed,
       started_at = case when absurd_control_worker.pid = excluded.pid
                         then absurd_control_worker.started_at else now() end
"""


class Housekeeping(threading.Thread):
    def __init__(
        self,
        *,
        worker_id: str,
        queues: list[str],
        concurrency: int,
        counters: Callable[[], tuple[int, int, int]],
        done: threading.Event,
        interval: float = WORKER_HEARTBEAT_SECONDS,
    ):
        super().__init__(name="absurd-housekeeping", daemon=True)
        self.worker_id = worker_id
        self.queues = queues
        self.concurrency = concurrency
        self.counters = counters
        # Beats go on through the shutdown grace period, so a stopping worker with
        # tasks still finishing is not shown as dead.
        self.done = done
        self.interval = interval
        self._conn = LazyConnection(f"absurd-housekeeping {self.worker_id}")
        self._last_error: str | None = None
        self._chart_retention = ThroughputRetention()
        self._partitions = PartitionUpkeep()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.beat()

    def beat(self, *, stopped: bool = False) -> None:
        in_flight, processed, failed = self.counters()
        try:
            conn = self._connection()
            conn.execute(
                UPSERT,
                {
                    "worker_id": self.worker_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": json.dumps(self.queues),
                    "concurrency": self.concurrency,
                    "in_flight": in_flight,
                    "processed": processed,
                    "failed": failed,
                },
            )
            if stopped:
                conn.execute(
                    "update absurd_control_worker set stopped_at = now() where worker_id = %s",
                    (self.worker_id,),
                )
            else:
                conn.execute("select absurd_control.install_all_queues()")
                refresh_stale_statistics(conn, self.queues)
                self._chart_retention.maybe_prune(conn)
                self._partitions.maybe_ensure(conn)
            self._last_error = None
        except psycopg.Error as exc:
            # Connection trouble is the claim loop's to report; anything else (say, a
            # role that does not own a queue's tables) is logged once until it changes.
            message = first_line(exc)
            if not isinstance(exc, psycopg.OperationalError) and message != self._last_error:
                logger.warning("worker.housekeeping_failed: %s", message)
            self._last_error = message
            self.close()

    def _connection(self) -> psycopg.Connection:
        return self._conn.get()

    def close(self) -> None:
        self._conn.close()
