"""Schedules over the JSON API: create, list, get (next 5), update, pause, resume, trigger,
backfill, delete; problem details for bad input; roles."""

import pytest
from django.db import connection

from absurd_core import engine
from absurd_core.models import OperatorAction, Schedule
from tenants.api_keys import issue_key
from tenants.models import RateLimitPolicy, Tenant
from tests.helpers import api


@pytest.fixture
def keys(db):
    engine.create_queue("demo")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    with connection.cursor() as cursor:
        cursor.execute("select set_config('absurd.fake_now', '2030-01-07T10:00:30Z', false)")
    yield {
        "viewer": issue_key(acme, "v", role="viewer").key,
        "operator": issue_key(acme, "o", role="operator").key,
        "admin": issue_key(acme, "a", role="admin").key,
        "narrow": issue_key(acme, "n", role="admin", scopes=["tasks:read"]).key,
    }
    with connection.cursor() as cursor:
        cursor.execute("select set_config('absurd.fake_now', '', false)")


BODY = {
    "name": "nightly",
    "task": "demo.two_steps",
    "cron": "0 3 * * *",
    "timezone": "Europe/Paris",
}


def test_create_get_and_list(keys):
    created = api("post", "/schedules", keys["operator"], BODY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["queue"] == "demo" and body["enabled"] is True and body["code_owned"] is False
    assert body["upcoming"] == [
        "2030-01-08T02:00:00Z",
        "2030-01-09T02:00:00Z",
        "2030-01-10T02:00:00Z",
        "2030-01-11T02:00:00Z",
        "2030-01-12T02:00:00Z",
    ]
    got = api("get", f"/schedules/{body['id']}", keys["viewer"]).json()
    assert got["upcoming"] == body["upcoming"] and got["name"] == "nightly"
    listed = api("get", "/schedules", keys["viewer"]).json()
    assert [s["name"] for s in listed] == ["nightly"]
    assert OperatorAction.objects.get(action="schedule.create").detail["via"] == "api"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "70 * * * *"}, "cron"),
        ({"cron": "@fortnightly"}, "cron"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"cron": None, "every_seconds": None}, "cron"),
        ({"cron": None, "every_seconds": 0}, "every_seconds"),
        ({"headers": {"absurd_control.schedule": "7"}}, "headers"),
        ({"catch_up": "some"}, "catch_up"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_creates_nothing(keys, change, field):
    answer = api("post", "/schedules", keys["operator"], {**BODY, **change})
    assert answer.status_code == 422, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert any(e["field"].endswith(field) for e in answer.json()["errors"]), answer.json()
    assert not Schedule.objects.exists()


def test_unknown_task_is_404_and_duplicate_name_409(keys):
    unknown = api("post", "/schedules", keys["operator"], {**BODY, "task": "no.such"})
    internal = api("post", "/schedules", keys["operator"], {**BODY, "task": "approvals.deliver"})
    assert unknown.status_code == internal.status_code == 404
    assert api("post", "/schedules", keys["operator"], BODY).status_code == 201
    again = api("post", "/schedules", keys["operator"], {**BODY, "cron": "@hourly"})
    assert again.status_code == 409
    assert Schedule.objects.get().cron == "0 3 * * *"


def test_roles_and_scopes(keys):
    assert api("post", "/schedules", keys["viewer"], BODY).status_code == 403
    assert api("post", "/schedules", keys["narrow"], BODY).status_code == 403
    sid = api("post", "/schedules", keys["operator"], BODY).json()["id"]
    assert (
        api("patch", f"/schedules/{sid}", keys["operator"], {"cron": "@hourly"}).status_code == 403
    )
    assert api("delete", f"/schedules/{sid}", keys["operator"]).status_code == 403
    assert api("post", f"/schedules/{sid}/pause", keys["viewer"]).status_code == 403
    assert Schedule.objects.get().enabled and Schedule.objects.get().cron == "0 3 * * *"


def test_update_pause_resume_trigger_backfill_delete(keys):
    sid = api("post", "/schedules", keys["operator"], BODY).json()["id"]
    updated = api("patch", f"/schedules/{sid}", keys["admin"], {"every_seconds": 3600})
    assert updated.status_code == 200, updated.content
    assert updated.json()["cron"] is None and updated.json()["every_seconds"] == 3600
    assert updated.json()["upcoming"][0] == "2030-01-07T11:00:00Z"
    paused = api("post", f"/schedules/{sid}/pause", keys["operator"]).json()
    assert paused["enabled"] is False and paused["upcoming"] == []
    assert api("post", f"/schedules/{sid}/resume", keys["operator"]).json()["enabled"] is True
    fired = api("post", f"/schedules/{sid}/trigger", keys["operator"])
    assert fired.status_code == 201 and fired.json()["slot"] == "2030-01-07T10:00:30Z"
    task = api("get", f"/tasks/{fired.json()['task_id']}", keys["viewer"]).json()
    assert task["headers"]["absurd_control.schedule"] == str(sid)
    assert task["headers"]["absurd_control.trigger"] == "manual"
    rng = {"start": "2030-01-07T05:00:00Z", "end": "2030-01-07T07:00:00Z"}
    filled = api("post", f"/schedules/{sid}/backfill", keys["operator"], rng)
    assert filled.status_code == 200, filled.content
    assert [s["slot"] for s in filled.json()["spawned"]] == [
        "2030-01-07T05:00:00Z",
        "2030-01-07T06:00:00Z",
        "2030-01-07T07:00:00Z",
    ]
    again = api("post", f"/schedules/{sid}/backfill", keys["operator"], rng).json()
    assert [s["created"] for s in again["spawned"]] == [False, False, False]
    huge = {"start": "2029-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}
    before = _tasks()
    assert api("post", f"/schedules/{sid}/backfill", keys["operator"], huge).status_code == 409
    assert _tasks() == before
    assert api("delete", f"/schedules/{sid}", keys["admin"]).status_code == 204
    assert api("get", f"/schedules/{sid}", keys["viewer"]).status_code == 404


def test_trigger_over_the_spawn_rate_is_429_and_spawns_nothing(keys):
    sid = api("post", "/schedules", keys["operator"], BODY).json()["id"]
    RateLimitPolicy.objects.create(
        tenant=Tenant.objects.get(slug="acme"), spawn_rate=0.001, spawn_burst=1
    )
    assert api("post", f"/schedules/{sid}/trigger", keys["operator"]).status_code == 201
    with connection.cursor() as cursor:  # a later slot: not the same idempotency key
        cursor.execute("select set_config('absurd.fake_now', '2030-01-07T10:00:31Z', false)")
    answer = api("post", f"/schedules/{sid}/trigger", keys["operator"])
    assert answer.status_code == 429 and int(answer["Retry-After"]) >= 1
    assert _tasks() == 1


def test_code_owned_schedules_cannot_be_deleted(keys):
    sid = api("post", "/schedules", keys["operator"], BODY).json()["id"]
    Schedule.objects.filter(id=sid).update(code_owned=True)
    assert api("delete", f"/schedules/{sid}", keys["admin"]).status_code == 409
    assert api("post", f"/schedules/{sid}/pause", keys["operator"]).status_code == 200
    assert Schedule.objects.filter(id=sid).exists()


def _tasks():
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_demo")
        return cursor.fetchone()[0]


def test_the_schedule_paths_are_in_the_openapi_document(keys):
    paths = api("get", "/openapi.json").json()["paths"]
    assert {"/api/v1/schedules", "/api/v1/schedules/{schedule_id}/backfill"} <= set(paths)
