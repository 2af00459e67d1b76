"""Feed plugin lifecycle listeners from the event log, about once a second.

Started by the worker only when some plugin declares listeners. Each pass is
``absurd_core.listeners.dispatch`` on this thread's own autocommit connection;
listener code that uses the ORM gets this thread's Django connections, closed
after each pass like an execution thread's after each task.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from django.db import connections

from absurd_core.errors import first_line
from absurd_core.listeners import Listener, dispatch
from absurd_core.worker.connection import LazyConnection

logger = logging.getLogger("absurd_core.worker")

INTERVAL = 1.0


class LifecyclePump(threading.Thread):
    def __init__(
        self, listeners: list[tuple[str, Listener]], done: threading.Event, worker_id: str
    ):
        super().__init__(name="absurd-lifecycle-pump", daemon=True)
        self.listeners = listeners
        self.done = done
        self.application_name = f"absurd-listeners {worker_id}"
        self._conn = LazyConnection(self.application_name)

    def run(self) -> None:
        while not self.done.wait(INTERVAL):
            self.pump()
        self.close()

    def pump(self) -> int:
        try:
            conn = self._conn.get()
            while (delivered := dispatch(conn, self.listeners)) and not self.done.is_set():
                pass  # a full batch: go on at once
            return delivered
        except psycopg.Error as exc:
            logger.warning("worker.lifecycle_pump_failed: %s", first_line(exc))
            self.close()
            return 0
        finally:
            connections.close_all()

    def close(self) -> None:
        self._conn.close()
