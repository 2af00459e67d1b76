"""The API's hot statements are prepared once per connection (config/settings.py)."""

import pytest
from django.conf import settings
from django.db import connection

from absurd_core import engine
from absurd_core.worker.connection import connect
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api

pytestmark = pytest.mark.django_db


def prepared_statements(fragment: str) -> list[tuple[str, int]]:
    """Statements prepared on this test's connection whose text contains ``fragment``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select statement, generic_plans + custom_plans from pg_prepared_statements"
            " where statement like %s",
            [f"%{fragment}%"],
        )
        return cursor.fetchall()


@pytest.mark.skipif(
    settings.DATABASE_POOLER == "transaction", reason="the pooler variant is the next test"
)
def test_key_lookup_and_spawn_are_prepared_after_five_requests():
    engine.create_queue("demo")
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ci").key
    for i in range(5):
        response = api("post", "/tasks", key, {"task": "demo.two_steps", "params": {"i": i}})
        assert response.status_code == 201
    assert prepared_statements("absurd.spawn_task") == []  # five runs: not yet

    for i in range(5, 8):
        response = api("post", "/tasks", key, {"task": "demo.two_steps", "params": {"i": i}})
        assert response.status_code == 201
    # From the sixth run on, each request executes the prepared statement: the
    # server parsed and planned it once, and plans it no more than it runs it.
    [(spawn_sql, spawn_runs)] = prepared_statements("absurd.spawn_task")
    assert "$1" in spawn_sql and spawn_runs == 3  # bound on the server, not interpolated
    [(_, lookup_runs)] = prepared_statements("tenants_apikey k")
    assert lookup_runs == 3


@pytest.mark.skipif(
    settings.DATABASE_POOLER != "transaction", reason="make test-pooler runs it (PgBouncer)"
)
def test_behind_a_transaction_pooler_nothing_is_prepared():
    # make test-pooler: the web alias goes through PgBouncer 1.18 in transaction mode, which
    # cannot carry prepared statements; DATABASE_POOLER=transaction turns them off.
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is None
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is False
    engine.create_queue("demo")
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ci").key
    for i in range(8):
        response = api("post", "/tasks", key, {"task": "demo.two_steps", "params": {"i": i}})
        assert response.status_code == 201
    assert prepared_statements("absurd.spawn_task") == []


def test_worker_connections_take_the_driver_options_but_not_djangos():
    # server_side_binding is Django's own option: psycopg.connect would refuse it.
    expected = settings.DATABASE_POOLER != "transaction"
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is expected
    with connect(application_name="test") as conn:
        assert conn.prepare_threshold == connection.settings_dict["OPTIONS"]["prepare_threshold"]
        assert conn.execute("select 1").fetchone() == (1,)
