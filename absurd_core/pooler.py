"""Connection poolers in front of PostgreSQL: what is there, and what it can carry.

PgBouncer in transaction mode hands each transaction whatever server connection is free, so
anything kept on a session breaks behind it: server-side prepared statements (before
PgBouncer 1.21, or with ``max_prepared_statements`` at 0) and LISTEN. Web processes turn
prepared statements off with ``DATABASE_POOLER=transaction`` (config/settings.py); workers
need a session of their own (``require_listen_session``, called when runworker starts).

Detection (``detect``) asks only where it can answer for sure: when the server says it listens
on another port than the one we connected to, something sits in between, and PgBouncer's
admin console (database ``pgbouncer``, simple query protocol) says which version and mode.
A pooler on PostgreSQL's own port is not seen: set ``DATABASE_POOLER`` then.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import psycopg
from django.db import DatabaseError, connections

#: PgBouncer carries protocol-level prepared statements in transaction mode from this version
#: on, when ``max_prepared_statements`` is above 0.
PREPARED_STATEMENTS_FROM = (1, 21)
#: How long runworker waits for its own probe NOTIFY on the LISTEN connection.
LISTEN_PROBE_SECONDS = 5.0


@dataclass(frozen=True)
class Pooler:
    """A pooler between us and PostgreSQL. ``mode``/``version`` are None when unreadable."""

    name: str
    mode: str | None = None
    version: tuple[int, ...] | None = None
    max_prepared_statements: int | None = None

    @property
    def carries_prepared_statements(self) -> bool | None:
        """Whether prepared statements survive it; None: cannot tell."""
        if self.mode is None:
            return None
        if self.mode != "transaction":
            return True
        if self.version is None:
            return None
        return self.version >= PREPARED_STATEMENTS_FROM and bool(self.max_prepared_statements)

    def describe(self) -> str:
        version = ".".join(map(str, self.version)) if self.version else "of unknown version"
        mode = f"in {self.mode} mode" if self.mode else "in an unknown pool mode"
        return f"{self.name} {version} {mode}"


class PoolerNotSupported(Exception):
    """A connection cannot do what it is needed for behind this pooler (the message says)."""


def _parse_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def admin_console(settings_dict: dict) -> Pooler | None:
    """Ask PgBouncer's admin console at the alias's host and port; None when it is not there."""
    try:
        conn = psycopg.connect(
            dbname="pgbouncer",
            host=settings_dict.get("HOST") or None,
            port=settings_dict.get("PORT") or None,
            user=settings_dict.get("USER") or None,
            password=settings_dict.get("PASSWORD") or None,
            connect_timeout=3,
            autocommit=True,
            # The admin console speaks only the simple query protocol.
            cursor_factory=psycopg.ClientCursor,
        )
    except psycopg.OperationalError as exc:
        message = str(exc)
        if 'database "pgbouncer" does not exist' in message or "connection refused" in message:
            return None
        # PgBouncer refuses its console to users not in admin_users/stats_users.
        return Pooler("PgBouncer") if "not allowed" in message else None
    with conn:
        try:
            version = _parse_version(conn.execute("show version").fetchone()[0])
        except psycopg.Error:
            return None  # a PostgreSQL database that happens to be called pgbouncer
        config = {row[0]: row[1] for row in conn.execute("show config").fetchall()}
        cursor = conn.execute("show databases")
        columns = [c.name for c in cursor.description]
        mode = config.get("pool_mode")
        for row in cursor.fetchall():
            record = dict(zip(columns, row, strict=True))
            if record.get("name") == settings_dict.get("NAME") and record.get("pool_mode"):
                mode = record["pool_mode"]
        raw_max = config.get("max_prepared_statements")
        return Pooler(
            "PgBouncer",
            mode=mode,
            version=version,
            max_prepared_statements=int(raw_max) if raw_max not in (None, "") else None,
        )


def detect(using: str = "default") -> Pooler | None:
    """The pooler in front of ``using``'s server, when one can be seen (module docstring)."""
    connection = connections[using]
    settings_dict = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("select current_setting('port')::int")
        server_port = cursor.fetchone()[0]
    our_port = int(settings_dict.get("PORT") or 5432)
    if server_port == our_port:
        return None
    return admin_console(settings_dict)


def prepared_statements_on(settings_dict: dict) -> bool:
    options = settings_dict.get("OPTIONS") or {}
    return options.get("prepare_threshold") is not None or options.get("server_side_binding")


def require_listen_session(conn_factory) -> None:
    """Fail unless LISTEN works on connections made by ``conn_factory()``.

    LISTEN on one connection, NOTIFY from another, and wait for it. Behind a transaction-mode
    pooler the LISTEN stays on a server connection that goes back to the pool, so the
    notification never reaches us; a direct or session-mode connection gets it at once.
    """
    channel = f"absurd_control_probe_{uuid.uuid4().hex[:16]}"
    try:
        with conn_factory() as listener, conn_factory() as sender:
            listener.execute(f"listen {channel}")
            sender.execute("select pg_notify(%s, 'probe')", [channel])
            arrived = any(
                note.channel == channel
                for note in listener.notifies(timeout=LISTEN_PROBE_SECONDS, stop_after=1)
            )
        if arrived:
            return
    except psycopg.OperationalError as exc:
        if "unsupported startup parameter" in str(exc):
            raise PoolerNotSupported(
                "The worker's database connection goes through a pooler that refuses its "
                f"session settings ({str(exc).strip()}). runworker needs a session of its "
                "own: point its DATABASE_URL at PostgreSQL directly, or at a session-mode "
                "pool (docs/scaling.md, 'A connection pooler')."
            ) from exc
        raise
    raise PoolerNotSupported(
        "LISTEN does not work on the worker's database connection: a NOTIFY sent from "
        f"another connection did not arrive within {LISTEN_PROBE_SECONDS:g} s. The connection "
        "goes through a pooler in transaction mode (PgBouncer pool_mode=transaction), which "
        "cannot keep a LISTEN. runworker needs a session of its own: point its DATABASE_URL "
        "at PostgreSQL directly, or at a session-mode pool (docs/scaling.md, "
        "'A connection pooler')."
    )


def check_messages(using: str = "default", declared: str = "") -> tuple[str, str] | None:
    """("error"|"warning", message) when ``using`` goes through a pooler that would break."""
    settings_dict = connections[using].settings_dict
    if declared == "transaction" or not prepared_statements_on(settings_dict):
        return None
    try:
        pooler = detect(using)
    except DatabaseError:
        return None  # the schema check reports an unreachable database
    if pooler is None:
        return None
    carries = pooler.carries_prepared_statements
    if carries is False:
        return (
            "error",
            f"The database connection goes through {pooler.describe()}, which cannot carry "
            "the server-side prepared statements this project uses: requests would fail "
            "with 'prepared statement ... does not exist'.",
        )
    if carries is None:
        return (
            "warning",
            f"The database connection goes through {pooler.describe()}: if it pools in "
            "transaction mode, server-side prepared statements will fail.",
        )
    return None
