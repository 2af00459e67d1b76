"""Shared test helpers: subprocesses of manage.py against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
#: HOST and PORT of PostgreSQL itself when the tests' own connections go through PgBouncer
#: (tests/pgbouncer.py): subprocesses such as runworker need a session, so they connect here.
DIRECT_SERVER: dict[str, str] = {}


def database_url(dbname: str | None = None) -> str:
    """A DATABASE_URL for the test database (or another on the same server)."""
    s = {**connection.settings_dict, **DIRECT_SERVER}
    host = s.get("HOST") or "localhost"
    host = quote(host, safe="") if host.startswith("/") else host
    user = quote(s.get("USER") or "postgres")
    password = s.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else f"{user}@"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{dbname or s['NAME']}"


def raw_connection(dbname: str | None = None):
    """A psycopg autocommit connection to the test database (or another on its server),
    outside Django: what absurdctl or a psql session would use.

    Always to PostgreSQL itself, never through the test PgBouncer (make test-pooler): tests
    use these for session state (``absurd.fake_now``, claims held across statements) that a
    transaction-mode pool would hand to whichever client gets the server connection next.
    """
    import psycopg

    s = {**connection.settings_dict, **DIRECT_SERVER}
    return psycopg.connect(
        dbname=dbname or s["NAME"],
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
    )


def subprocess_env(dbname: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=database_url(dbname),
        PYTHONUNBUFFERED="1",
        ABSURD_CONTROL_QUIET_DB="1",
    )
    env.update(extra)
    return env


def manage(*args: str, dbname: str | None = None, env: dict | None = None, timeout: float = 120):
    """Run ``manage.py`` to completion; returns the CompletedProcess (never raises)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env or subprocess_env(dbname),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(condition: Callable[[], object], *, timeout: float = 30, interval: float = 0.05):
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


class WorkerProcess:
    """``manage.py runworker`` as a child process, stopped with SIGTERM on exit.

    Its output is read continuously by a thread: a worker logging more than a
    pipe holds (64 KiB) would otherwise block on its next log line.
    """

    def __init__(self, *args: str, env: dict | None = None):
        self.args = args
        self.env = env or subprocess_env()
        self.proc: subprocess.Popen | None = None
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def __enter__(self) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        return self

    def _read(self, stream) -> None:
        for line in stream:
            self._lines.append(line)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        return self.proc.returncode

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def api(method: str, path: str, key: str | None = None, body=None, **extra):
    """Call the JSON API with Django's test client: ``api("get", "/tasks", key)``."""
    import json as _json

    from django.test import Client

    kwargs = dict(extra)
    if key is not None:
        kwargs["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if body is not None:
        kwargs.update(data=_json.dumps(body), content_type="application/json")
    return getattr(Client(), method)(f"/api/v1{path}", **kwargs)


def pause_queue(name: str, paused_by: str = "user:ops") -> None:
    """Pause ``name`` as a psql session would: no audit row (set-up for tests that count them).

    The audited pause is absurd_core.actions.queues.pause.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into absurd_control.queue_pause (queue_name, paused_by) values (%s, %s)"
            " on conflict (queue_name) do nothing",
            [name, paused_by],
        )


#: The password of every user role_user makes (browser tests type it into the login form).
PASSWORD = "pw-12345-long"


def role_user(
    username: str | None = None,
    tenant=None,
    role: str = "viewer",
    *,
    memberships: dict[str, str] | None = None,
    superuser: bool = False,
    **extra,
):
    """A user (a fresh name when none is given) with ``PASSWORD``: the one role-user helper.

    A member of ``tenant`` (a Tenant or a slug) with ``role`` when a tenant is given, and
    of each ``{slug: role}`` in ``memberships``; ``superuser=True`` makes a superuser;
    ``extra`` goes to ``create_user`` (``is_staff=True``, ...). The ``role_user`` fixture
    (tests/conftest.py) is this function.
    """
    import uuid

    from django.contrib.auth import get_user_model

    from tenants.models import Membership, Tenant

    users = get_user_model().objects
    username = username or f"u{uuid.uuid4().hex[:8]}"
    if superuser:
        user = users.create_superuser(username, f"{username}@example.com", PASSWORD, **extra)
    else:
        user = users.create_user(username, password=PASSWORD, **extra)
    wanted = dict(memberships or {})
    if tenant is not None:
        wanted[tenant] = role
    for member_of, member_role in wanted.items():
        if isinstance(member_of, str):
            member_of = Tenant.objects.get(slug=member_of)
        Membership.objects.create(user=user, tenant=member_of, role=member_role)
    return user


def terminal_result(queue: str, task_id) -> object | None:
    """The engine's result of a task that has ended, None while it has not (for wait_for)."""
    from absurd_core import engine

    result = engine.get_task_result(queue, task_id)
    return result if result.state in ("completed", "failed", "cancelled") else None
