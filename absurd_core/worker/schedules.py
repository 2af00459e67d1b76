"""The schedule ticker: every runworker fires due schedules (docs/schedules.md).

One thread per worker, with its own database connection (Django's, per thread). It runs
``absurd_core.schedule_firing.tick()`` (one transaction: lock the due schedules with
SKIP LOCKED, spawn each slot, advance), then sleeps until the earliest ``due_at`` of
any enabled schedule, measured on the database clock. It LISTENs on
``absurd_control_schedules`` on the same connection: a schedule created, resumed or made
due earlier (absurd_core/sql/schedules.sql) wakes it at once. So there is no busy
polling: with nothing due it wakes once a minute at most (``MAX_SLEEP``), the safety
net for a notification lost during a reconnect. When due schedules were all locked by
another worker's tick, it looks again after ``LOCKED_RETRY`` seconds.

Any number of workers tick the same table: SKIP LOCKED hands each due schedule to one
of them, and the idempotency key ``schedule:<id>:<slot>`` makes a repeat a no-op.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connections

from absurd_core.errors import first_line
from absurd_core.schedule_firing import seconds_until_next_due, tick
from absurd_core.schedule_sync import sync

logger = logging.getLogger("absurd_core.worker")

CHANNEL = "absurd_control_schedules"
MAX_SLEEP = 60.0
LOCKED_RETRY = 1.0
ERROR_RETRY = 5.0


class ScheduleTicker(threading.Thread):
    def __init__(self, stopping: threading.Event, name: str, using: str = "default"):
        super().__init__(name="absurd-schedules", daemon=True)
        self.stopping = stopping
        self.using = using
        self.worker_name = name
        self._listening_on = None
        self._last_error: str | None = None
        self.ticks = 0

    def run(self) -> None:
        try:
            self._sync_declared()
            while not self.stopping.is_set():
                timeout = self.step()
                self._wait(timeout)
        finally:
            connections[self.using].close()

    def _sync_declared(self) -> None:
        """Sync the schedules declared in code (one worker at a time; equal: no write)."""
        try:
            sync(using=self.using)
        except Exception as exc:  # logged; ticking goes on with the table as is
            logger.warning("worker.schedules_sync_failed: %s", first_line(exc))
            connections[self.using].close()

    def step(self) -> float:
        """One tick; the seconds to sleep before the next one."""
        try:
            self._listen()
            result = tick(using=self.using)
            self.ticks += 1
            seconds = seconds_until_next_due(self.using)
            self._last_error = None
        except Exception as exc:  # the database or the ORM failed; try later
            message = first_line(exc)
            if message != self._last_error:
                logger.warning("worker.schedules_failed: %s", message)
            self._last_error = message
            close_old_connections()
            connections[self.using].close()
            self._listening_on = None
            return ERROR_RETRY
        if seconds is None:
            return MAX_SLEEP
        if seconds <= 0:
            # Still due after the tick: locked by another worker's tick, or more than one
            # batch was due (then ticking again at once is right).
            return 0.0 if result.ticked else LOCKED_RETRY
        return min(seconds, MAX_SLEEP)

    def _listen(self) -> None:
        connection = connections[self.using]
        connection.ensure_connection()
        raw = connection.connection
        if raw is not self._listening_on:
            with connection.cursor() as cursor:
                cursor.execute(f"listen {CHANNEL}")
            self._listening_on = raw

    def _wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds; a NOTIFY or a stop ends it early."""
        raw = self._listening_on
        if timeout <= 0 or self.stopping.is_set():
            return
        if raw is None:
            self.stopping.wait(timeout)
            return
        remaining = timeout
        try:
            # Short slices, so a stop request is seen within half a second.
            while remaining > 0 and not self.stopping.is_set():
                slice_ = min(0.5, remaining)
                for _ in raw.notifies(timeout=slice_, stop_after=1):
                    return
                remaining -= slice_
        except Exception as exc:  # a dead connection: reconnect on the next step
            logger.debug("worker.schedules lost its connection: %s", first_line(exc))
            connections[self.using].close()
            self._listening_on = None
