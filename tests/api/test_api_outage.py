"""While the database is unreachable, the API answers 503 problems with Retry-After, not 500s.

Two real outages: the server ends the request's connection (pg_terminate_backend, as a
restart or a failover does), and the database refuses connections altogether (the
connection settings point at a port nobody listens on, as a stopped server does). Once the
database is back, the next request succeeds: nothing is left broken.
"""

from __future__ import annotations

import socket

import pytest
from django.db import connection

from absurd_core import engine
from absurd_core.models import TaskEvent
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api, raw_connection
from tests.pgbouncer import SESSION_POOLER

PROBLEM = "application/problem+json"
SPAWN = {"task": "demo.two_steps", "params": {"i": 1}}


@pytest.fixture
def key(transactional_db):
    engine.create_queue("demo")
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ops").key
    yield key
    connection.close()  # whatever state a test left it in, the teardown reconnects
    engine.drop_queue("demo")


def assert_unavailable(response) -> dict:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == PROBLEM
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["type"] == "urn:absurd-control:problem:unavailable"
    assert "database" in body["detail"] and "Traceback" not in body["detail"]
    return body


def terminate_this_connection() -> None:
    connection.ensure_connection()
    if SESSION_POOLER:
        # make test-pooler: the client's connection ends at PgBouncer (a server connection
        # ended behind it is replaced without the client noticing). KILL drops the
        # database's connections; RESUME lets new ones in.
        name = connection.settings_dict["NAME"]
        SESSION_POOLER[0].admin(f"kill {name}")
        SESSION_POOLER[0].admin(f"resume {name}")
        return
    pid = connection.connection.info.backend_pid
    with raw_connection() as admin:
        admin.execute("select pg_terminate_backend(%s, 5000)", [pid])


def test_a_connection_ended_by_the_server_is_a_503_then_the_api_recovers(key):
    terminate_this_connection()
    assert_unavailable(api("get", "/tasks", key))
    # The broken connection is discarded at the end of that request (Django's
    # close_old_connections); the next request connects again.
    connection.close_if_unusable_or_obsolete()
    assert api("get", "/tasks", key).status_code == 200


def test_a_spawn_during_an_outage_is_a_503_and_spawns_nothing(key):
    terminate_this_connection()
    assert_unavailable(api("post", "/tasks", key, SPAWN))
    connection.close_if_unusable_or_obsolete()
    assert not TaskEvent.objects.filter(tenant="acme").exists()
    assert api("post", "/tasks", key, SPAWN).status_code == 201


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released at once: nothing listens there


@pytest.fixture
def database_down(key):
    """The connection settings point at a port where no server listens, as if PostgreSQL
    were stopped; restored afterwards."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    try:
        yield key
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/tasks", None),
        ("post", "/tasks", SPAWN),
        ("post", "/events", {"queue": "demo", "name": "x"}),
        ("get", "/queues/demo", None),
    ],
)
def test_a_refused_connection_is_a_503_for_every_kind_of_call(database_down, method, path, body):
    assert_unavailable(api(method, path, database_down, body))


def test_health_keeps_its_own_503_body_while_the_database_is_down(database_down):
    response = api("get", "/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_a_statement_error_is_still_a_500(key, monkeypatch):
    """Only an unreachable database is a 503: a statement that fails on a live connection
    (here, cancelled by statement_timeout) is the server's fault, a 500 as before."""

    def slow(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("set statement_timeout = 1")
            try:
                cursor.execute("select pg_sleep(1)")
            finally:
                cursor.execute("reset statement_timeout")

    monkeypatch.setattr("config.api.queues.list_queue_info", slow)
    response = api("get", "/queues", key)
    assert response.status_code == 500, response.content
    assert response.json()["type"] == "urn:absurd-control:problem:server-error"
    assert api("get", "/tasks", key).status_code == 200
