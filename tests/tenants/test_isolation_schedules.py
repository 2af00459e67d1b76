"""Isolation proof for schedules: what tenant A can do with tenant B's schedule ids and
names, through the API, the dashboard and the spawn path. Nothing: 404 like an id nobody
has, and B's data (schedules, tasks, audit rows) unchanged byte for byte."""

import pytest
from django.db import connection

from absurd_core import engine, spawn
from absurd_core.models import Schedule
from absurd_core.schedule_firing import tick
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.helpers import api
from tests.tenants.snapshot import assert_unchanged, tenant_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(django_user_model):
    engine.create_queue("demo")
    a = Tenant.objects.create(slug="acme", name="Acme")
    b = Tenant.objects.create(slug="globex", name="Globex")
    b_key = issue_key(b, "b-admin", role="admin").key
    b_schedule = api(
        "post",
        "/schedules",
        b_key,
        {"name": "payroll", "task": "demo.two_steps", "every_seconds": 60, "params": {"b": 1}},
    ).json()
    user = django_user_model.objects.create_user("a-admin", password="pw-long-12345")
    Membership.objects.create(user=user, tenant=a, role="admin")
    return {
        "a_key": issue_key(a, "a-admin", role="admin").key,
        "a_user": user,
        "b_id": b_schedule["id"],
        "unknown_id": b_schedule["id"] + 1000,
    }


API_CALLS = [
    ("get", "/schedules/{id}", None),
    ("patch", "/schedules/{id}", {"cron": "@hourly"}),
    ("post", "/schedules/{id}/pause", None),
    ("post", "/schedules/{id}/resume", None),
    ("post", "/schedules/{id}/trigger", None),
    (
        "post",
        "/schedules/{id}/backfill",
        {"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T02:00:00Z"},
    ),
    ("delete", "/schedules/{id}", None),
]


@pytest.mark.parametrize(("method", "route", "body"), API_CALLS)
def test_every_api_operation_on_bs_schedule_is_404_like_an_unknown_id(world, method, route, body):
    before = tenant_snapshot("globex")
    theirs = api(method, route.format(id=world["b_id"]), world["a_key"], body)
    nobodys = api(method, route.format(id=world["unknown_id"]), world["a_key"], body)
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json()  # word for word: nothing tells A the id exists
    assert_unchanged(before, tenant_snapshot("globex"))


def test_the_list_shows_only_as_own_and_names_are_per_tenant(world):
    assert api("get", "/schedules", world["a_key"]).json() == []
    # B's name is free for A: a 409 would tell A that B uses it.
    mine = api(
        "post",
        "/schedules",
        world["a_key"],
        {"name": "payroll", "task": "demo.two_steps", "every_seconds": 60},
    )
    assert mine.status_code == 201
    assert [s["name"] for s in api("get", "/schedules", world["a_key"]).json()] == ["payroll"]
    assert Schedule.objects.filter(name="payroll").count() == 2


DASHBOARD = ["pause", "resume", "trigger", "backfill", "edit", "delete"]


@pytest.mark.parametrize("action", DASHBOARD)
def test_every_dashboard_action_on_bs_schedule_is_404(world, client, action):
    client.force_login(world["a_user"])
    before = tenant_snapshot("globex")
    body = {
        "confirmed": "1",
        "confirm": "payroll",
        "start": "2030-01-01T00:00",
        "end": "2030-01-01T02:00",
        "task": "demo.two_steps",
        "cron": "@hourly",
        "timezone": "UTC",
        "catch_up": "skip",
        "catch_up_cap": "100",
        "jitter_seconds": "0",
    }
    for schedule_id in (world["b_id"], world["unknown_id"]):
        response = client.post(f"/schedules/{schedule_id}/{action}", body)
        assert response.status_code == 404, (action, response.status_code)
    assert b"payroll" not in client.get("/schedules/").content
    assert_unchanged(before, tenant_snapshot("globex"))


def test_a_cannot_take_bs_slot_keys_or_stamp_bs_schedule_on_its_tasks(world):
    """A spawns first with B's slot key and B's schedule header: B's slot still fires B's
    own task (keys are per tenant), and A's task names a schedule A cannot see."""
    b = Schedule.objects.get(id=world["b_id"])
    with connection.cursor() as cursor:
        cursor.execute(
            "select set_config('absurd.fake_now', %s, false)",
            [(b.next_fire_at).isoformat()],
        )
    slot = b.next_fire_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    stolen = spawn(
        "demo.two_steps",
        {"a": 1},
        tenant="acme",
        idempotency_key=f"schedule:{b.id}:{slot}",
        headers={"absurd_control.schedule": str(b.id), "absurd_control.slot": slot},
    )
    try:
        result = tick()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("select set_config('absurd.fake_now', '', false)")
    b_task = result.spawned[(b.id, slot)]
    assert b_task != stolen.task_id
    with connection.cursor() as cursor:
        cursor.execute("select headers->>'tenant' from absurd.t_demo where task_id = %s", [b_task])
        assert cursor.fetchone()[0] == "globex"
    # A's own task page does not reveal B's schedule.
    task = api("get", f"/tasks/{stolen.task_id}", world["a_key"]).json()
    assert task["headers"]["absurd_control.schedule"] == str(b.id)  # what A wrote, no more
    assert api("get", f"/schedules/{b.id}", world["a_key"]).status_code == 404
