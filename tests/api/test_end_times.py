"""End times over the API: failed and cancelled attempts say when they ended.

The engine stamps a failed run's ``failed_at`` (not ``completed_at``) and a cancelled
task's ``cancelled_at`` (not its run's): ``ended_at`` is whichever ended it, for each
run and for the task, and the old fields keep their meaning. Times are set with
``absurd.fake_now``, so each is known to the microsecond.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from absurd_core import engine, spawn
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import raw_connection

T0 = datetime(2030, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)  # after the spawns


@pytest.fixture
def key(db):
    engine.create_queue("demo")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    yield issue_key(acme, "v", role="viewer").key
    engine.drop_queue("demo")


def get(path, key):
    response = Client().get(f"/api/v1/tasks{path}", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    return response.json()


def at(conn, moment: datetime) -> None:
    conn.execute("select set_config('absurd.fake_now', %s, false)", (moment.isoformat(),))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ended_in_list(state, task_id, key) -> datetime:
    """``ended_at`` of the task in ``GET /tasks`` (other tests may leave tasks behind)."""
    items = get(f"?state={state}&q={task_id}", key)["items"]
    assert [i["task_id"] for i in items] == [str(task_id)]
    return parse(items[0]["ended_at"])


def claim(conn, task_id) -> str:
    (run_id,) = conn.execute(
        "select run_id from absurd.claim_task('demo', 'w-api', 60, 100) where task_id = %s",
        (task_id,),
    ).fetchone()
    return run_id


@pytest.mark.django_db(transaction=True)
def test_a_failed_attempt_and_a_failed_task_have_failed_at_and_ended_at(key):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme", max_attempts=2)
    reason = json.dumps({"name": "ValueError", "message": "boom"})
    with raw_connection() as conn:
        at(conn, T0)
        first = claim(conn, task.task_id)
        at(conn, T0 + timedelta(seconds=1.5))
        conn.execute("select absurd.fail_run('demo', %s, %s::jsonb, null)", (first, reason))
        at(conn, T0 + timedelta(seconds=2))
        second = claim(conn, task.task_id)
        at(conn, T0 + timedelta(seconds=5.25))
        conn.execute("select absurd.fail_run('demo', %s, %s::jsonb, null)", (second, reason))
    body = get(f"/{task.task_id}", key)
    assert body["state"] == "failed"
    one, two = body["runs"]
    assert one["state"] == two["state"] == "failed"
    assert one["completed_at"] is None and two["completed_at"] is None  # the old field stays
    assert parse(one["failed_at"]) == parse(one["ended_at"]) == T0 + timedelta(seconds=1.5)
    assert parse(two["failed_at"]) == parse(two["ended_at"]) == T0 + timedelta(seconds=5.25)
    assert parse(two["started_at"]) == T0 + timedelta(seconds=2)
    assert one["cancelled_at"] is None
    assert parse(body["ended_at"]) == T0 + timedelta(seconds=5.25)
    assert parse(body["first_started_at"]) == T0 and body["cancelled_at"] is None
    # The runs list says when each finished task ended, too.
    assert ended_in_list("failed", task.task_id, key) == T0 + timedelta(seconds=5.25)


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_attempt_ends_when_the_task_was_cancelled(key):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    with raw_connection() as conn:
        at(conn, T0)
        claim(conn, task.task_id)
        at(conn, T0 + timedelta(seconds=3.004))
        conn.execute("select absurd.cancel_task('demo', %s)", (task.task_id,))
    body = get(f"/{task.task_id}", key)
    assert body["state"] == "cancelled"
    (run,) = body["runs"]
    assert run["state"] == "cancelled"
    assert run["completed_at"] is None and run["failed_at"] is None
    assert parse(run["cancelled_at"]) == parse(run["ended_at"]) == T0 + timedelta(seconds=3.004)
    assert parse(body["cancelled_at"]) == parse(body["ended_at"]) == T0 + timedelta(seconds=3.004)
    assert ended_in_list("cancelled", task.task_id, key) == T0 + timedelta(seconds=3.004)


@pytest.mark.django_db(transaction=True)
def test_a_completed_attempt_ends_at_completed_at_and_an_unfinished_one_has_no_end(key):
    done = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    with raw_connection() as conn:
        at(conn, T0)
        run_id = claim(conn, done.task_id)
        at(conn, T0 + timedelta(milliseconds=250))
        conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))
    running = spawn("demo.two_steps", {"i": 2}, tenant="acme")
    with raw_connection() as conn:
        at(conn, T0 + timedelta(seconds=1))
        claim(conn, running.task_id)
    (run,) = get(f"/{done.task_id}", key)["runs"]
    assert parse(run["completed_at"]) == parse(run["ended_at"]) == T0 + timedelta(milliseconds=250)
    assert run["failed_at"] is None
    body = get(f"/{running.task_id}", key)
    assert body["state"] == "running"
    assert body["ended_at"] is None and body["runs"][0]["ended_at"] is None
