"""The Schedules page, the task page's "spawned by" line and the overview's late schedules."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from absurd_core import engine
from absurd_core.models import OperatorAction, Schedule, Worker
from absurd_core.schedule_firing import tick
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db):
    engine.create_queue("demo")
    return Tenant.objects.create(slug="acme", name="Acme")


def _fake_now(moment):
    with connection.cursor() as cursor:
        cursor.execute("select set_config('absurd.fake_now', %s, false)", [moment or ""])


CREATE = {
    "name": "nightly",
    "task": "demo.two_steps",
    "cron": "0 3 * * *",
    "timezone": "Europe/Paris",
    "catch_up": "skip",
    "catch_up_cap": "100",
    "jitter_seconds": "0",
    "params": '{"report": "daily"}',
}


def test_operator_creates_then_pauses_with_confirmation(client, role_user, acme):
    client.force_login(role_user(tenant=acme, role="operator"))
    response = client.post("/schedules/create", CREATE)
    assert response.status_code == 302
    s = Schedule.objects.get()
    assert s.tenant == "acme" and s.params == {"report": "daily"}
    page = client.get("/schedules/").content.decode()
    assert "every day at 03:00 Europe/Paris" in page
    asked = client.post(f"/schedules/{s.id}/pause")
    assert asked.status_code == 200 and b"Confirm" in asked.content
    s.refresh_from_db()
    assert s.enabled  # not before the confirmation
    client.post(f"/schedules/{s.id}/pause", {"confirmed": "1"})
    s.refresh_from_db()
    assert not s.enabled
    assert OperatorAction.objects.get(action="schedule.pause").detail["via"] == "dashboard"


def test_bad_input_is_shown_on_the_field_and_creates_nothing(client, role_user, acme):
    client.force_login(role_user(tenant=acme, role="operator"))
    response = client.post("/schedules/create", {**CREATE, "cron": "0 25 * * *"})
    assert response.status_code == 400
    assert b"not a valid cron expression" in response.content
    response = client.post("/schedules/create", {**CREATE, "timezone": "Paris"})
    assert response.status_code == 400 and b"IANA" in response.content
    assert not Schedule.objects.exists()


def test_viewers_see_no_controls_and_cannot_act(client, role_user, acme):
    Schedule.objects.create(
        tenant="acme", name="s", task_name="demo.two_steps", queue="demo", every_seconds=60
    )
    client.force_login(role_user(tenant=acme, role="viewer"))
    page = client.get("/schedules/").content.decode()
    assert "Trigger now" not in page and "Create a schedule" not in page
    s = Schedule.objects.get()
    assert client.post(f"/schedules/{s.id}/trigger", {"confirmed": "1"}).status_code == 403


def test_operators_cannot_delete_or_edit(client, role_user, acme):
    s = Schedule.objects.create(
        tenant="acme", name="s", task_name="demo.two_steps", queue="demo", every_seconds=60
    )
    client.force_login(role_user(tenant=acme, role="operator"))
    body = {"confirm": "s", "confirmed": "1"}
    assert client.post(f"/schedules/{s.id}/delete", body).status_code == 403
    assert Schedule.objects.filter(id=s.id).exists()


def test_task_page_names_the_schedule_and_slot(client, role_user, acme):
    client.force_login(role_user(tenant=acme, role="operator"))
    _fake_now("2030-01-07T10:00:30Z")
    try:
        client.post("/schedules/create", {**CREATE, "cron": "", "every_seconds": "60"})
        _fake_now("2030-01-07T10:01:00Z")
        result = tick()
    finally:
        _fake_now(None)
    (task_id,) = result.spawned.values()
    page = client.get(f"/tasks/{task_id}/").content.decode()
    assert "Spawned by schedule nightly, slot 2030-01-07T10:01:00Z" in page
    schedules = client.get("/schedules/").content.decode()
    assert f"/tasks/{task_id}/" in schedules  # the last fire links its task


def test_overview_shows_late_schedules_only_while_workers_run(client, role_user, acme):
    Schedule.objects.create(
        tenant="acme",
        name="stuck",
        task_name="demo.two_steps",
        queue="demo",
        every_seconds=60,
        next_fire_at=datetime.now(UTC) - timedelta(minutes=5),
        due_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    client.force_login(role_user(tenant=acme, role="viewer"))
    assert b"late-schedules" not in client.get("/partials/queues").content  # no worker
    now = datetime.now(UTC)
    Worker.objects.create(
        worker_id="w1", host="h", pid=1, queues=["demo"], concurrency=1,
        started_at=now, last_seen=now,
    )  # fmt: skip
    live = client.get("/partials/queues").content.decode()
    assert 'id="late-schedules"' in live and "stuck" in live


def test_admin_edits_and_deletes_with_confirmation(client, role_user, acme):
    client.force_login(role_user(tenant=acme, role="admin"))
    client.post("/schedules/create", CREATE)
    s = Schedule.objects.get()
    edit = {k: v for k, v in CREATE.items() if k != "name"}
    response = client.post(f"/schedules/{s.id}/edit", {**edit, "cron": "", "every_seconds": "300"})
    assert response.status_code == 302
    s.refresh_from_db()
    assert (s.cron, s.every_seconds) == (None, 300)
    assert "every 5 min" in client.get("/schedules/").content.decode()
    wrong = client.post(f"/schedules/{s.id}/delete", {"confirm": "not it", "confirmed": "1"})
    assert wrong.status_code == 400 and Schedule.objects.filter(id=s.id).exists()
    asked = client.post(f"/schedules/{s.id}/delete", {"confirm": "nightly"})
    assert asked.status_code == 200 and Schedule.objects.filter(id=s.id).exists()
    client.post(f"/schedules/{s.id}/delete", {"confirm": "nightly", "confirmed": "1"})
    assert not Schedule.objects.filter(id=s.id).exists()
