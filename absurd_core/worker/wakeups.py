"""LISTEN for wake-ups on a dedicated connection and wake the claim loop.

The per-queue trigger ``absurd_control_wake`` (absurd_core/sql/wakeups.sql)
sends the queue name on channel ``absurd_control_wake`` whenever a run becomes
claimable or gets a new wake-up time. A notification lost while disconnected
costs at most one poll interval: after reconnecting, the listener wakes the
claim loop once, which re-reads the queues.

``wake(queue, pid)`` is told which queue a notification was for and which
server process sent it (the worker tells its own deferrals from news); after a
reconnect, ``wake(None, None)``: anything may have changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from absurd_core.worker.connection import connect, reconnect_delay

logger = logging.getLogger("absurd_core.worker")

CHANNEL = "absurd_control_wake"


class WakeupListener(threading.Thread):
    def __init__(
        self,
        queues: list[str],
        wake: Callable[[str | None, int | None], None],
        stopping: threading.Event,
        name: str,
    ):
        super().__init__(name="absurd-wakeups", daemon=True)
        self.queues = set(queues)
        self.wake = wake
        self.stopping = stopping
        self.application_name = f"absurd-listen {name}"

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                with connect(application_name=self.application_name) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    # Claim once now: a run that became available before LISTEN took
                    # effect (at start, or while reconnecting) sent its NOTIFY to nobody.
                    self.wake(None, None)
                    failures = 0
                    self._listen(conn)
            except psycopg.Error as exc:
                delay = reconnect_delay(failures)
                failures += 1
                logger.debug("worker.wakeups lost connection: %s", str(exc).strip())
                self.stopping.wait(delay)

    def _listen(self, conn: psycopg.Connection) -> None:
        while not self.stopping.is_set():
            for note in conn.notifies(timeout=0.5):
                if note.payload in self.queues:
                    self.wake(note.payload, note.pid)
