"""A PgBouncer (Debian's ``pgbouncer``) in front of the test server, on free ports.

``start_pgbouncer(server_settings, pool_mode)`` returns a running ``PgBouncer``: its unix
socket directory and port (127.0.0.1 too), trust authentication for the server's user, the
admin console open to it, every database forwarded (``*``) to the embedded PostgreSQL.
PgBouncer refuses to run as root: as root it runs as the embedded server's system user.

``make test-pooler`` (ABSURD_TEST_PGBOUNCER=1) runs tests/api and tests/dashboard through one:
``django_db_setup`` below creates and migrates the test database directly, then points the
default alias at PgBouncer in transaction mode; subprocesses (runworker) keep the direct
address (tests.helpers.DIRECT_SERVER), since workers need a session of their own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
INSTALL_HINT = (
    "PgBouncer tests need Debian's pgbouncer: run `sudo apt-get install pgbouncer` "
    "(make test and make test-pooler do this when run as root)."
)
#: The system user the embedded server runs as when the tests run as root.
EMBEDDED_SYSTEM_USER = "embedded_postgres"
#: The PgBouncer the session's default alias goes through (make test-pooler), if any.
SESSION_POOLER: list[PgBouncer] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_pgbouncer() -> None:
    if Path(PGBOUNCER).exists():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(INSTALL_HINT, pytrace=False)
    pytest.skip(f"SKIPPED PGBOUNCER TESTS: {INSTALL_HINT}")


@dataclass
class PgBouncer:
    directory: Path
    port: int
    pool_mode: str
    process: subprocess.Popen
    server: dict = field(repr=False)

    @property
    def host(self) -> str:
        return str(self.directory)

    def settings_for(self, settings_dict: dict) -> dict:
        """``settings_dict`` (a Django alias) with its address moved to this PgBouncer."""
        return {**settings_dict, "HOST": self.host, "PORT": str(self.port)}

    def admin(self, command: str) -> list[tuple]:
        with psycopg.connect(
            dbname="pgbouncer",
            host=self.host,
            port=self.port,
            user=self.server.get("USER") or "postgres",
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:
            cursor = conn.execute(command)
            return cursor.fetchall() if cursor.description else []

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            # Signal pgbouncer itself: runuser, which started it as root, forwards a signal
            # it gets and then sleeps 2 s before exiting (util-linux su-common.c).
            try:
                os.kill(int((self.directory / "pgbouncer.pid").read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer(server: dict, *, pool_mode: str = "transaction") -> PgBouncer:
    """Start PgBouncer in front of the server Django's ``server`` settings name."""
    require_pgbouncer()
    directory = Path(tempfile.mkdtemp(prefix="absurd-pgbouncer-"))
    port = free_port()
    user = server.get("USER") or "postgres"
    server_host = server.get("HOST") or "127.0.0.1"
    server_port = server.get("PORT") or "5432"
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server_host} port={server_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        f"unix_socket_dir = {directory}\n"
        "auth_type = trust\n"
        f"auth_file = {directory}/userlist.txt\n"
        f"admin_users = {user}\n"
        f"pool_mode = {pool_mode}\n"
        "max_client_conn = 500\n"
        "default_pool_size = 40\n"
        # psycopg and libpq clients send these; the worker sends options (its session
        # timeout), which a transaction pool cannot honour: ignored, so the worker's own
        # LISTEN probe is what refuses it.
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {directory}/pgbouncer.log\n"
        f"pidfile = {directory}/pgbouncer.pid\n"
    )
    command = [PGBOUNCER, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        owner = pwd.getpwnam(EMBEDDED_SYSTEM_USER)
        for path in (directory, *directory.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command = ["runuser", "-u", EMBEDDED_SYSTEM_USER, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bouncer = PgBouncer(directory, port, pool_mode, process, server)
    deadline = time.monotonic() + 20
    while True:
        try:
            bouncer.admin("show version")
            return bouncer
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                bouncer.stop()
                raise RuntimeError(f"pgbouncer did not start: {error}{bouncer.log()}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database made and migrated directly; then the default alias goes through
    PgBouncer in transaction mode for the whole session (``make test-pooler``)."""
    from django.db import connections

    from tests import helpers

    direct = dict(connections["default"].settings_dict)
    bouncer = start_pgbouncer(direct, pool_mode="transaction")
    with django_db_blocker.unblock():
        connections["default"].close()
    connections["default"].settings_dict.update(HOST=bouncer.host, PORT=str(bouncer.port))
    helpers.DIRECT_SERVER.update(HOST=direct["HOST"], PORT=direct["PORT"])
    SESSION_POOLER.append(bouncer)
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            connections["default"].close()
        connections["default"].settings_dict.update(HOST=direct["HOST"], PORT=direct["PORT"])
        helpers.DIRECT_SERVER.clear()
        SESSION_POOLER.clear()
        bouncer.stop()
