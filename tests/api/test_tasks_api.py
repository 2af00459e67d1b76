"""Tasks over the API: get, history, cancel and retry, tenant-scoped and role-checked."""

import json

import pytest
from django.test import Client

from absurd_core import engine, spawn
from absurd_core.audit import task_timeline
from absurd_core.tenancy import TenantScope
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import raw_connection


@pytest.fixture
def keys(db):
    engine.create_queue("demo")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    other = Tenant.objects.create(slug="other", name="Other")
    return {
        "operator": issue_key(acme, "op", role="operator").key,
        "viewer": issue_key(acme, "v", role="viewer").key,
        "other": issue_key(other, "o", role="admin").key,
    }


def call(method, path, key, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(Client(), method)(f"/api/v1/tasks{path}", **kwargs)


@pytest.mark.django_db(transaction=True)
def test_get_a_waiting_task_with_runs_checkpoints_and_its_wait(keys):
    task = spawn("demo.wait_event", {"event": "go"}, tenant="acme")
    with raw_connection() as conn:
        (run_id,) = conn.execute(
            "select run_id from absurd.claim_task('demo', 'w', 60, 10) where task_id = %s",
            (task.task_id,),
        ).fetchone()
        conn.execute(
            "select absurd.set_task_checkpoint_state('demo', %s, 'prep', '1'::jsonb, %s, 60)",
            (task.task_id, run_id),
        )
        conn.execute(
            "select * from absurd.await_event('demo', %s, %s, 'wait', 'go', null)",
            (task.task_id, run_id),
        )
    body = call("get", f"/{task.task_id}", keys["viewer"]).json()
    assert body["state"] == "sleeping" and body["queue"] == "demo"
    assert body["params"] == {"event": "go"} and body["headers"] == {"tenant": "acme"}
    assert [r["attempt"] for r in body["runs"]] == [1]
    assert [c["name"] for c in body["checkpoints"]] == ["prep"]  # a wait checkpoints when it ends
    assert body["wait"] == {"event": "go"}
    history = call("get", f"/{task.task_id}/history", keys["viewer"]).json()
    assert [h["kind"] for h in history] == ["spawned", "claimed", "sleeping"]
    engine.drop_queue("demo")


def test_cancel_and_retry(keys, absurd):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    cancelled = call("post", f"/{task.task_id}/cancel", keys["operator"])
    assert cancelled.json() == {"task_id": str(task.task_id), "state": "cancelled"}
    # Absurd retries failed tasks only.
    refused = call("post", f"/{task.task_id}/retry", keys["operator"], {})
    assert refused.status_code == 409 and "not currently failed" in refused.json()["detail"]
    # A task that really failed, run in-process by the pytest plugin's fixture.
    failed = absurd.spawn("demo.flaky", {"fail_times": 1}, tenant="acme", max_attempts=1)
    assert absurd.run(failed, raise_failures=False).status == "failed"
    assert absurd.result(failed).failure["name"] == "FlakyError"
    retried = call("post", f"/{failed.task_id}/retry", keys["operator"], {"max_attempts": 3})
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    # The retry is a real new attempt: it runs, and succeeds.
    assert absurd.run(failed).attempt == 2
    assert absurd.result(failed).result == {"attempts": 2}
    # Who did what is on each task's timeline; the refused retry left no trace.
    timeline = {
        t: [(e.kind, e.actor) for e in task_timeline(TenantScope("acme"), "demo", t) if e.actor]
        for t in (task.task_id, failed.task_id)
    }
    assert timeline == {task.task_id: [("cancel", "key:op")], failed.task_id: [("retry", "key:op")]}


def test_cancelling_an_ended_task_changes_nothing_and_is_not_audited(keys):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    assert call("post", f"/{task.task_id}/cancel", keys["operator"]).status_code == 200
    again = call("post", f"/{task.task_id}/cancel", keys["operator"])
    assert again.json() == {"task_id": str(task.task_id), "state": "cancelled"}
    actions = [
        (e.kind, e.actor)
        for e in task_timeline(TenantScope("acme"), "demo", task.task_id)
        if e.actor
    ]
    # One cancel happened, so one is on the timeline: the repeat changed nothing.
    assert actions == [("cancel", "key:op")]


def test_retry_of_a_running_task_is_409(keys):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    response = call("post", f"/{task.task_id}/retry", keys["operator"], {})
    assert response.status_code == 409
    assert engine.get_task_result("demo", task.task_id).state == "pending"


@pytest.mark.parametrize(
    ("key", "method", "path", "status"),
    [
        ("other", "get", "", 404),
        ("other", "get", "/history", 404),
        ("other", "post", "/cancel", 404),
        ("viewer", "post", "/cancel", 403),
        ("viewer", "post", "/retry", 403),
    ],
)
def test_refusals_change_nothing(keys, key, method, path, status):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    body = {} if method == "post" else None
    assert call(method, f"/{task.task_id}{path}", keys[key], body).status_code == status
    assert engine.get_task_result("demo", task.task_id).state == "pending"


def test_unknown_and_malformed_task_ids(keys):
    assert call("get", "/01a20000-0000-7000-8000-000000000000", keys["viewer"]).status_code == 404
    assert call("get", "/not-a-uuid", keys["viewer"]).status_code in (404, 422)
