"""PgBouncer in front (docs/scaling.md): start-up refuses what would break, workers need a
session. A real pgbouncer (tests/pgbouncer.py) in front of the test server."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import connection

from absurd_core import engine, spawn
from absurd_core.pooler import Pooler, admin_console
from tests.helpers import WorkerProcess, manage, subprocess_env, terminal_result, wait_for
from tests.pgbouncer import start_pgbouncer


@pytest.fixture(scope="module")
def transaction_bouncer(django_db_setup, django_db_blocker):
    bouncer = start_pgbouncer(dict(connection.settings_dict), pool_mode="transaction")
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="module")
def session_bouncer(django_db_setup, django_db_blocker):
    bouncer = start_pgbouncer(dict(connection.settings_dict), pool_mode="session")
    yield bouncer
    bouncer.stop()


def bouncer_env(bouncer, **extra: str) -> dict[str, str]:
    url = f"postgres://postgres@{quote(bouncer.host, safe='')}:{bouncer.port}/"
    url += connection.settings_dict["NAME"]
    env = subprocess_env(DATABASE_URL=url, **extra)
    env.pop("DATABASE_POOLER", None)
    env.update(extra)
    return env


def test_the_admin_console_tells_version_and_mode(transaction_bouncer, session_bouncer):
    found = admin_console(transaction_bouncer.settings_for(connection.settings_dict))
    assert found.name == "PgBouncer" and found.mode == "transaction"
    assert found.version[:2] == (1, 18)  # Debian 12's
    assert found.carries_prepared_statements is False
    session = admin_console(session_bouncer.settings_for(connection.settings_dict))
    assert session.mode == "session" and session.carries_prepared_statements is True
    # PostgreSQL itself has no such console.
    assert admin_console(connection.settings_dict) is None


def test_carrying_prepared_statements_depends_on_version_and_setting():
    assert Pooler("PgBouncer", "transaction", (1, 21, 0), 100).carries_prepared_statements
    assert not Pooler("PgBouncer", "transaction", (1, 21, 0), 0).carries_prepared_statements
    assert not Pooler("PgBouncer", "transaction", (1, 18, 0)).carries_prepared_statements
    assert Pooler("PgBouncer", "transaction").carries_prepared_statements is None


@pytest.mark.django_db(transaction=True)
def test_start_up_refuses_a_transaction_pool_with_prepared_statements_on(transaction_bouncer):
    refused = manage("check", env=bouncer_env(transaction_bouncer))
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "absurd_core.E020" in output
    assert "PgBouncer 1.18.0 in transaction mode" in output
    assert "DATABASE_POOLER=transaction" in output

    accepted = manage("check", env=bouncer_env(transaction_bouncer, DATABASE_POOLER="transaction"))
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "E020" not in accepted.stdout + accepted.stderr


@pytest.mark.django_db(transaction=True)
def test_start_up_accepts_a_session_pool(session_bouncer):
    result = manage("check", env=bouncer_env(session_bouncer))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_the_web_settings_turn_prepared_statements_off(transaction_bouncer):
    result = manage(
        "shell",
        "-c",
        "from django.db import connection as c; o = c.settings_dict['OPTIONS'];"
        "print(o['prepare_threshold'], o['server_side_binding'])",
        env=bouncer_env(transaction_bouncer, DATABASE_POOLER="transaction"),
    )
    assert result.stdout.split()[-2:] == ["None", "False"], result.stderr
    bad = manage("check", env=bouncer_env(transaction_bouncer, DATABASE_POOLER="sometimes"))
    assert bad.returncode != 0
    assert "DATABASE_POOLER='sometimes': use transaction, session or none" in bad.stderr


@pytest.mark.django_db(transaction=True)
def test_a_worker_behind_a_transaction_pool_refuses_to_start(transaction_bouncer):
    with WorkerProcess(
        "--queue", "testq", env=bouncer_env(transaction_bouncer, DATABASE_POOLER="transaction")
    ) as worker:
        wait_for(lambda: worker.proc.poll() is not None, timeout=60)
    assert worker.proc.returncode != 0
    assert "LISTEN does not work on the worker's database connection" in worker.output
    assert "transaction mode" in worker.output


@pytest.mark.django_db(transaction=True)
def test_a_worker_through_a_session_pool_works(session_bouncer):
    engine.create_queue("testq")
    spawned = spawn("test.complete", {}, tenant="acme")
    with WorkerProcess(
        "--queue", "testq", "--poll-interval", "0.2", env=bouncer_env(session_bouncer)
    ) as worker:
        ended = wait_for(lambda: terminal_result("testq", spawned.task_id), timeout=60)
        assert worker.proc.poll() is None, worker.output
    assert ended.state == "completed" and ended.result == {"ok": True}
