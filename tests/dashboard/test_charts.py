"""The overview chart's JSON endpoint (dashboard/pages/charts.py) and the click-through
links of the overview and queues page (dashboard/links.py), against PostgreSQL."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from absurd_core import engine, spawn
from absurd_core.models import ThroughputBucket
from dashboard.links import parent_link, runs_url, schedule_link, task_link, worker_link
from tenants.models import Tenant
from tests.helpers import role_user

pytestmark = pytest.mark.django_db


def _q(sql, *params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _finish(queue, tenant, *, name="test.chart", fail=False):
    spawn(name, {}, queue=queue, tenant=tenant, max_attempts=1)
    (run_id,) = _q("select run_id from absurd.claim_task(%s, 'w', 60, 1)", queue)[0]
    if fail:
        _q('select absurd.fail_run(%s, %s, \'{"name": "E"}\'::jsonb, null)', queue, run_id)
    else:
        _q("select absurd.complete_run(%s, %s, '{}'::jsonb)", queue, run_id)


@pytest.fixture
def tenants():
    return {s: Tenant.objects.create(slug=s, name=s.title()) for s in ("acme", "globex")}


@pytest.fixture
def acme(client, tenants):
    client.force_login(role_user(tenant="acme", role="viewer"))
    return client


def _chart(client, **params):
    return client.get(reverse("dashboard:charts"), params)


def test_chart_counts_the_scopes_finished_tasks(acme, queue_name):
    _finish(queue_name, "acme")
    _finish(queue_name, "acme")
    _finish(queue_name, "acme", fail=True)
    _finish(queue_name, "globex")
    response = _chart(acme, range="1h", queue=queue_name)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert data["range"] == "1h" and data["tenant"] == "acme" and data["queue"] == queue_name
    assert len(data["series"]["t"]) == 60 and data["step_seconds"] == 60
    assert data["totals"] == {"completed": 2, "failed": 1, "retried": 0}
    assert data["series"]["completed"][-1] == 2
    (row,) = data["durations"]
    assert row["task_name"] == "test.chart" and row["runs"] == 2
    assert row["p50"] <= row["p95"] <= row["p99"] and row["p50_text"].endswith(("ms", "s"))
    # Its runs link: the runs list with the queue, completed, the task name and the tenant.
    query = parse_qs(urlsplit(row["runs_url"]).query)
    assert query == {"queue": [queue_name], "state": ["completed"], "task": ["test.chart"],
                     "tenant": ["acme"]}  # fmt: skip


@pytest.mark.parametrize("name,points,step", [("1h", 60, 60), ("24h", 288, 300), ("7d", 168, 3600)])
def test_each_range_has_at_most_a_few_hundred_points(acme, name, points, step):
    data = _chart(acme, range=name).json()
    assert (len(data["series"]["t"]), data["step_seconds"]) == (points, step)
    assert data["series"]["t"] == sorted(data["series"]["t"])


@pytest.mark.parametrize("bad", ["2h", "1H", "", "7d ", "'; drop table x; --", "x" * 5000])
def test_an_unknown_range_is_400_problem_details(acme, bad):
    if bad == "":
        assert _chart(acme, range=bad).status_code == 200  # empty: the default range
        return
    response = _chart(acme, range=bad)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["title"] == "Bad request"
    assert (
        problem["detail"].startswith("Unknown range")
        and "use one of 1h, 24h, 7d" in problem["detail"]
    )
    assert len(problem["detail"]) < 200


@pytest.mark.parametrize(
    "queue",
    ["nope", "'; drop table absurd.queues; --", "t_x\x00", "q" * 3000, "../demo", "émoji🙂"],
)
def test_a_hostile_or_unknown_queue_is_404_and_changes_nothing(acme, queue_name, queue):
    _finish(queue_name, "acme")
    before = list(ThroughputBucket.objects.order_by("id").values())
    response = _chart(acme, queue=queue)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith("No queue named")
    assert engine.queue_exists(queue_name)
    assert list(ThroughputBucket.objects.order_by("id").values()) == before


def test_chart_needs_a_login(client):
    response = client.get(reverse("dashboard:charts"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_writes_are_refused(acme):
    assert acme.post(reverse("dashboard:charts")).status_code == 405


def test_platform_scope_follows_the_switcher(client, tenants, queue_name):
    Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    client.force_login(
        role_user(memberships={"ops": "admin", "acme": "viewer", "globex": "viewer"})
    )
    _finish(queue_name, "acme")
    _finish(queue_name, "globex")
    _finish(queue_name, "globex")
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "*", "next": "/"})
    every = _chart(client, queue=queue_name).json()
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "globex", "next": "/"})
    globex = _chart(client, queue=queue_name).json()
    assert globex["tenant"] == "globex" and globex["totals"]["completed"] == 2
    assert every["tenant"] is None and every["totals"]["completed"] == 3  # "All tenants"


# -- click-through ----------------------------------------------------------------------


def test_overview_counts_link_to_the_runs_list_that_shows_them(acme, queue_name):
    spawn("test.chart", {}, queue=queue_name, tenant="acme")
    spawn("test.chart", {}, queue=queue_name, tenant="acme")
    spawn("test.chart", {}, queue=queue_name, tenant="globex")
    html = acme.get(reverse("dashboard:queue_table")).content.decode()
    row = html.split(f'data-queue="{queue_name}"', 1)[1].split("</tr>", 1)[0]
    pending = row.split('data-state="pending"', 1)[1].split('href="', 1)[1].split('"', 1)[0]
    url = pending.replace("&amp;", "&")
    assert parse_qs(urlsplit(url).query) == {
        "queue": [queue_name], "state": ["pending"], "tenant": ["acme"]}  # fmt: skip
    # Round trip: the runs page takes the parameters as its filter and lists acme's 2 tasks.
    runs = acme.get(url).content.decode()
    assert f'<option value="{queue_name}" selected>' in runs
    assert runs.count("<tr data-task=") == 2 == runs.count('data-state="pending">')


def test_queues_page_counts_and_age_link_to_runs(acme, queue_name):
    spawn("test.chart", {}, queue=queue_name, tenant="acme")
    _finish(queue_name, "acme")
    html = acme.get(reverse("dashboard:queues")).content.decode()
    row = html.split(f'data-queue="{queue_name}"', 1)[1].split("</tr>", 1)[0]
    hrefs = [h.replace("&amp;", "&") for h in row.split('href="')[1:]]
    hrefs = [h.split('"', 1)[0] for h in hrefs]
    states = {
        parse_qs(urlsplit(h).query).get("state", [None])[0] for h in hrefs if h.startswith("/runs/")
    }
    assert {"pending", "running", "sleeping", "completed", "failed", "cancelled", None} <= states
    assert any(h.startswith("/?") and "queue=" + queue_name in h for h in hrefs)  # the chart
    assert "data-tenant>acme<" in row
    assert '<span class="text-success">1</span>' in row  # completed in the last hour


def test_link_helpers_escape_and_point_at_their_pages():
    assert runs_url() == "/runs/"
    assert runs_url(queue="a&b", state="total") == "/runs/?queue=a%26b"
    link = task_link("0190c2a4-0000-7000-8000-000000000001", "<b>x</b>")
    assert link == (
        '<a href="/tasks/0190c2a4-0000-7000-8000-000000000001/" data-task-link>'
        "&lt;b&gt;x&lt;/b&gt;</a>"
    )
    assert 'href="/workers/#worker-w%201%3Cx%3E"' in worker_link("w 1<x>")
    assert "<code>w 1&lt;x&gt;</code>" in worker_link("w 1<x>")
    assert (
        schedule_link(7, "nightly")
        == '<a href="/schedules/#schedule-7" data-schedule-link>nightly</a>'
    )
    assert parent_link("0190c2a4-0000-7000-8000-000000000002", None).startswith(
        '<a href="/tasks/0190c2a4-0000-7000-8000-000000000002/" data-parent-link>'
    )
    assert json.dumps(runs_url(queue="q", task="t.n"))  # plain strings
