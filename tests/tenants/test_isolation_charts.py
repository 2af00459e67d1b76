"""Isolation proof for the overview chart (dashboard/pages/charts.py, issue 19 item 5):
what tenant A can learn of tenant B through the chart endpoint, by every way to name
B's things: B's queue (queues are shared: A sees only its own tasks there, nothing of
B's), a tenant parameter (ignored: the scope is A's membership), B's task names (never
listed), and a queue name nobody has (404, like any unknown name). The aggregates'
own reads take the scope as a required argument; with A's scope they return nothing of
B whatever B's rows are called."""

import pytest
from django.db import connection
from django.urls import reverse

from absurd_core import engine, spawn
from absurd_core.queries.throughput import chart_range, duration_percentiles, throughput_series
from absurd_core.tenancy import TenantScope
from tenants.models import Tenant
from tests.helpers import role_user

pytestmark = pytest.mark.django_db


def _finish(queue, tenant, name, fail=False):
    spawn(name, {}, queue=queue, tenant=tenant, max_attempts=1)
    with connection.cursor() as cursor:
        cursor.execute("select run_id from absurd.claim_task(%s, 'w', 60, 1)", [queue])
        (run_id,) = cursor.fetchone()
        if fail:
            cursor.execute(
                'select absurd.fail_run(%s, %s, \'{"name": "E"}\'::jsonb, null)', [queue, run_id]
            )
        else:
            cursor.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [queue, run_id])


@pytest.fixture
def world(client):
    Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="globex", name="Globex")
    # A tenant whose slug starts like A's: prefix-keyed rows must not leak either way.
    Tenant.objects.create(slug="acme2", name="Acme 2")
    engine.create_queue("b_only")
    for _ in range(3):
        _finish("b_only", "globex", "globex.secret_payroll")
    _finish("b_only", "globex", "globex.secret_payroll", fail=True)
    _finish("b_only", "acme2", "acme2.thing")
    client.force_login(role_user(tenant="acme", role="admin"))
    yield client
    engine.drop_queue("b_only")


def _get(client, **params):
    return client.get(reverse("dashboard:charts"), params)


@pytest.mark.parametrize("range_", ["1h", "24h", "7d"])
def test_b_s_queue_shows_a_nothing(world, range_):
    data = _get(world, queue="b_only", range=range_).json()
    assert data["tenant"] == "acme"
    assert data["totals"] == {"completed": 0, "failed": 0, "retried": 0}
    assert not any(data["series"]["completed"] + data["series"]["failed"])
    assert data["durations"] == []


def test_all_queues_show_a_nothing_of_b(world):
    data = _get(world).json()
    assert data["totals"]["completed"] == 0 and data["durations"] == []
    assert "secret_payroll" not in _get(world, range="7d").content.decode()


@pytest.mark.parametrize("param", ["tenant", "scope", "as_tenant"])
def test_a_tenant_parameter_is_ignored(world, param):
    data = _get(world, queue="b_only", **{param: "globex"}).json()
    assert data["tenant"] == "acme" and data["totals"]["completed"] == 0


def test_a_queue_nobody_has_is_404_like_any_unknown_name(world):
    response = _get(world, queue="b_only_not")
    assert response.status_code == 404
    assert response.json()["detail"] == "No queue named 'b_only_not'."


def test_the_reads_with_a_s_scope_return_nothing_of_b(world):
    acme = TenantScope("acme")
    for name in ("1h", "24h", "7d"):
        chart = chart_range(name)
        assert throughput_series(acme, chart, queue="b_only").totals == {
            "completed": 0, "failed": 0, "retried": 0}  # fmt: skip
        assert duration_percentiles(acme, chart) == []
    # B's own scope sees B's (the proof is not vacuous), and only B's.
    globex = throughput_series(TenantScope("globex"), chart_range("1h"), queue="b_only")
    assert globex.totals == {"completed": 3, "failed": 1, "retried": 0}
    names = [r.task_name for r in duration_percentiles(TenantScope("globex"), chart_range("1h"))]
    assert names == ["globex.secret_payroll"]
    # A tenantless platform-style scope for "acme" does not pick up B either.
    tenantless = TenantScope("acme", tenantless=True)
    assert throughput_series(tenantless, chart_range("1h"), queue="b_only").totals["completed"] == 0
