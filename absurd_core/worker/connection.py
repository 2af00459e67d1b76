"""Connections for worker threads.

Each execution thread owns one autocommit connection, so completions are never
serialised behind a shared connection and no transaction stays open while task
code runs. ``idle_in_transaction_session_timeout`` ends any transaction that a
crashed or stuck thread leaves behind.
"""

from __future__ import annotations

import logging

import psycopg
from django.db import connections

IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000

#: Seconds to wait before reconnect attempt n (0-based): the claim loop and the wake-up listener.
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def reconnect_delay(failures: int) -> float:
    """The wait before the next reconnect after ``failures`` failed attempts in a row."""
    return RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]


#: OPTIONS that Django's backend consumes itself; psycopg.connect would refuse them.
DJANGO_ONLY_OPTIONS = frozenset({"server_side_binding", "isolation_level", "assume_role", "pool"})

logger = logging.getLogger("absurd_core.worker.db")


def log_database_warning(diag: psycopg.errors.Diagnostic) -> None:
    """Our SQL reports failures it survives (a hook, the concurrency limiter) as WARNINGs."""
    if diag.severity_nonlocalized in ("WARNING", "ERROR"):
        logger.warning("database: %s", diag.message_primary)


def connect(*, application_name: str, using: str = "default") -> psycopg.Connection:
    conn = psycopg.connect(**connect_kwargs(application_name, using), autocommit=True)
    conn.add_notice_handler(log_database_warning)
    return conn


async def connect_async(
    *, application_name: str, using: str = "default"
) -> psycopg.AsyncConnection:
    """The same connection as ``connect``, for the async executor's event loop."""
    conn = await psycopg.AsyncConnection.connect(
        **connect_kwargs(application_name, using), autocommit=True
    )
    conn.add_notice_handler(log_database_warning)
    return conn


def connect_kwargs(application_name: str, using: str = "default") -> dict:
    settings = connections[using].settings_dict
    kwargs = {
        "dbname": settings["NAME"],
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
        "host": settings.get("HOST") or None,
        "port": settings.get("PORT") or None,
        **{
            k: v
            for k, v in (settings.get("OPTIONS") or {}).items()
            if k not in DJANGO_ONLY_OPTIONS and isinstance(v, str | int)
        },
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if "prepare_threshold" in (settings.get("OPTIONS") or {}):
        # None (DATABASE_POOLER=transaction) means never prepare: psycopg's default is 5.
        kwargs["prepare_threshold"] = settings["OPTIONS"]["prepare_threshold"]
    return {
        **kwargs,
        "application_name": application_name[:63],
        "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}",
    }


class LazyConnection:
    """A worker connection opened on first use, and again after it closed or was dropped.

    The one "connect when needed, drop on trouble" holder of the worker's threads (the
    claim loop, the lease keeper, housekeeping, the lifecycle pump).
    """

    def __init__(self, application_name: str, *, using: str = "default"):
        self.application_name = application_name
        self.using = using
        self._conn: psycopg.Connection | None = None

    def get(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(application_name=self.application_name, using=self.using)
        return self._conn

    def close(self) -> None:
        """Close it (the next ``get`` opens a new one); a failing close is only logged."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                logger.debug("closing %s failed", self.application_name, exc_info=True)
        self._conn = None
