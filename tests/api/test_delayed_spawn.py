"""POST /api/v1/tasks with a delayed start: ``run_after`` (RFC 3339 with a zone) or
``delay_seconds``, never both; bad values are 422 naming the field, and spawn nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils.dateparse import parse_datetime

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api


@pytest.fixture
def key(db):
    engine.create_queue("demo")
    return issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ci").key


def _count():
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_demo")
        return cursor.fetchone()[0]


def _available(task_id):
    with connection.cursor() as cursor:
        cursor.execute("select available_at from absurd.r_demo where task_id = %s", [task_id])
        return cursor.fetchone()[0]


def test_run_after_spawns_a_pending_task_that_shows_its_start(key):
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    body = {"task": "demo.two_steps", "params": {"i": 1}, "run_after": at.isoformat()}
    spawned = api("post", "/tasks", key, body)
    assert spawned.status_code == 201, spawned.json()
    task_id = spawned.json()["task_id"]
    assert _available(task_id) == at
    shown = api("get", f"/tasks/{task_id}", key).json()
    assert shown["state"] == "pending"
    assert parse_datetime(shown["starts_at"]) == at
    (listed,) = api("get", "/tasks", key).json()["items"]
    assert parse_datetime(listed["starts_at"]) == at


@pytest.mark.parametrize("offset", ["+22:58", "-23:59", "+15:59", "+05:30"])
def test_any_rfc3339_offset_is_a_start_even_past_postgresqls_own_range(key, offset):
    # PostgreSQL parses offsets up to ±15:59 only; RFC 3339 allows ±23:59 (found by
    # schemathesis: "time zone displacement out of range" was a 422 for valid input).
    at = datetime.fromisoformat(f"2031-04-30T03:28:43{offset}")
    body = {"task": "demo.two_steps", "run_after": at.isoformat()}
    spawned = api("post", "/tasks", key, body)
    assert spawned.status_code == 201, spawned.json()
    assert _available(spawned.json()["task_id"]) == at


def test_delay_seconds_counts_from_now(key):
    spawned = api("post", "/tasks", key, {"task": "demo.two_steps", "delay_seconds": 300})
    assert spawned.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute(
            "select r.available_at - t.enqueue_at from absurd.r_demo r"
            " join absurd.t_demo t using (task_id) where task_id = %s",
            [spawned.json()["task_id"]],
        )
        delay = cursor.fetchone()[0]
    assert timedelta(seconds=300) <= delay < timedelta(seconds=301)


def test_a_far_start_is_a_long_wait_not_an_error(key):
    spawned = api(
        "post", "/tasks", key, {"task": "demo.two_steps", "run_after": "2999-01-01T00:00:00Z"}
    )
    assert spawned.status_code == 201
    assert _available(spawned.json()["task_id"]) == datetime(2999, 1, 1, tzinfo=UTC)


def test_a_task_without_a_delay_has_no_start_shown(key):
    spawned = api("post", "/tasks", key, {"task": "demo.two_steps"})
    assert api("get", f"/tasks/{spawned.json()['task_id']}", key).json()["starts_at"] is None


def test_an_idempotent_repeat_returns_the_same_task_and_moves_nothing(key):
    body = {"task": "demo.two_steps", "idempotency_key": "k", "delay_seconds": 3600}
    first = api("post", "/tasks", key, body)
    available = _available(first.json()["task_id"])
    again = api("post", "/tasks", key, {**body, "delay_seconds": 60})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["task_id"] == first.json()["task_id"]
    assert _available(first.json()["task_id"]) == available


def test_cancelling_before_the_start_works(key):
    spawned = api("post", "/tasks", key, {"task": "demo.two_steps", "delay_seconds": 3600})
    task_id = spawned.json()["task_id"]
    cancelled = api("post", f"/tasks/{task_id}/cancel", key)
    assert cancelled.status_code == 200, cancelled.json()
    shown = api("get", f"/tasks/{task_id}", key).json()
    assert shown["state"] == "cancelled" and shown["starts_at"] is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"run_after": "2030-01-01T00:00:00Z", "delay_seconds": 5}, "body.delay_seconds"),
        ({"run_after": "2030-01-01T00:00:00"}, "body.run_after"),  # no zone
        ({"run_after": "tomorrow"}, "body.run_after"),
        ({"run_after": 1893456000}, "body.run_after"),  # a number is not RFC 3339
        ({"delay_seconds": -1}, "body.delay_seconds"),
        ({"delay_seconds": 10 * 365 * 86400}, "body.delay_seconds"),
        ({"delay_seconds": "5"}, "body.delay_seconds"),
        ({"delay_seconds": True}, "body.delay_seconds"),
    ],
)
def test_bad_start_times_are_422_naming_the_field_and_spawn_nothing(key, extra, field):
    refused = api("post", "/tasks", key, {"task": "demo.two_steps", **extra})
    assert refused.status_code == 422, refused.json()
    problem = refused.json()
    assert refused["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in problem["errors"]], problem
    assert _count() == 0
