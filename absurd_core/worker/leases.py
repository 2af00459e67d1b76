"""Keep the leases of long-running tasks alive.

Task code runs on the execution threads and may not reach a step for a long
time, and a claimed run may wait in the local buffer before a thread is free,
so the lease keeper extends, from its own connection, every claim this worker
holds once a third of the claim timeout has passed since it was taken or last
extended.
When the engine refuses (the task was cancelled, or the run already failed
because its lease was lost), the run is left alone: the task stops at its next
step or heartbeat, where absurd-sdk raises CancelledTask or FailedTask.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from absurd_core.errors import first_line
from absurd_core.worker.connection import LazyConnection
from absurd_core.worker.lease_clock import LeaseClock

logger = logging.getLogger("absurd_core.worker")


@dataclass
class InFlight:
    queue: str
    run_id: Any
    task_id: Any
    extended_at: float = field(default_factory=time.monotonic)
    started: bool = False
    lease_lost: bool = False
    #: When this process last claimed or extended the lease (lease_clock.py); set by the
    #: claim loop from the time the claim statement was sent.
    lease: LeaseClock | None = None


class LeaseKeeper(threading.Thread):
    def __init__(
        self,
        snapshot: Callable[[], list[InFlight]],
        claim_timeout: int,
        done: threading.Event,
        name: str,
    ):
        super().__init__(name="absurd-leases", daemon=True)
        self.snapshot = snapshot
        self.claim_timeout = claim_timeout
        self.done = done  # set when the worker has settled all its runs
        self.application_name = f"absurd-leases {name}"
        self.extend_after = claim_timeout / 3
        self.tick = max(0.1, min(1.0, claim_timeout / 6))
        self._conn = LazyConnection(self.application_name)

    def run(self) -> None:
        # Runs through the shutdown grace period too: in-flight work goes on there.
        while not self.done.wait(self.tick):
            self.extend_due()
        self._close()

    def extend_due(self) -> None:
        now = time.monotonic()
        for run in self.snapshot():
            if run.lease_lost or now - run.extended_at < self.extend_after:
                continue
            try:
                self._extend(run)
            except psycopg.OperationalError as exc:
                logger.debug("worker.lease_extend_failed run_id=%s: %s", run.run_id, exc)
                self._close()
                return

    def _extend(self, run: InFlight) -> None:
        try:
            sent = time.monotonic()
            self._conn.get().execute(
                "select absurd.extend_claim(%s, %s, %s)",
                (run.queue, run.run_id, self.claim_timeout),
            )
            run.extended_at = time.monotonic()
            if run.lease is not None:
                run.lease.renewed(sent)
        except psycopg.errors.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            run.lease_lost = True
            if run.lease is not None:
                run.lease.mark_lost()
            logger.info(
                "worker.lease_gone task_id=%s run_id=%s: %s",
                run.task_id,
                run.run_id,
                first_line(exc),
            )

    def _close(self) -> None:
        self._conn.close()
