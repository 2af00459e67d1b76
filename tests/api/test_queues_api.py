"""Queues and workers over the API; pausing is honoured by runworker within a second."""

import time

import pytest

from absurd_core import engine, spawn
from absurd_core.models import OperatorAction, Worker
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import WorkerProcess, api, wait_for


@pytest.fixture
def keys(db, queue_name):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    engine.spawn_task(queue_name, "job", {}, headers={"tenant": "acme"})
    engine.spawn_task(queue_name, "job", {}, headers={"tenant": "zeta"})
    return {
        "queue": queue_name,
        "viewer": issue_key(acme, "v", role="viewer").key,
        "admin": issue_key(acme, "a", role="admin").key,
        "platform": issue_key(platform, "p", role="admin").key,
        "platform_viewer": issue_key(platform, "pv", role="viewer").key,
        "platform_narrow": issue_key(platform, "pn", role="admin", scopes=["tasks:read"]).key,
    }


def test_list_and_get_show_the_tenants_own_counts(keys):
    listed = {q["name"]: q for q in api("get", "/queues", keys["viewer"]).json()}
    assert listed[keys["queue"]]["counts"]["pending"] == 1
    assert listed[keys["queue"]]["paused"] is False
    detail = api("get", f"/queues/{keys['queue']}", keys["viewer"]).json()
    assert detail["counts"]["pending"] == 1
    assert detail["cleanup_ttl_seconds"] > 0 and detail["cleanup_limit"] > 0


def test_unknown_and_hostile_queue_names_are_404(keys):
    for name in ("nope", "a;drop", "x" * 80):
        response = api("get", f"/queues/{name}", keys["viewer"])
        assert response.status_code == 404, name
        assert response["Content-Type"] == "application/problem+json"


def test_policy_update_needs_a_platform_admin(keys):
    path = f"/queues/{keys['queue']}/policy"
    body = {"cleanup_ttl_seconds": 3600, "cleanup_limit": 10}
    for who in ("viewer", "admin", "platform_viewer", "platform_narrow"):
        assert api("put", path, keys[who], body).status_code == 403, who
    before = engine.get_queue_policy(keys["queue"])
    assert before.cleanup_limit != 10
    response = api("put", path, keys["platform"], body)
    assert response.status_code == 200, response.content
    assert response.json()["cleanup_ttl_seconds"] == 3600
    assert response.json()["cleanup_limit"] == 10
    unchanged = api("put", path, keys["platform"], {})
    assert unchanged.status_code == 200 and unchanged.json()["cleanup_limit"] == 10
    assert api("put", path, keys["platform"], {"cleanup_limit": 0}).status_code == 422
    assert engine.get_queue_policy(keys["queue"]).cleanup_limit == 10


def test_pause_and_resume_are_idempotent_and_platform_only(keys):
    path = f"/queues/{keys['queue']}"
    assert api("post", path + "/pause", keys["admin"]).status_code == 403
    first = api("post", path + "/pause", keys["platform"]).json()
    assert first == {"name": keys["queue"], "paused": True, "changed": True}
    assert api("post", path + "/pause", keys["platform"]).json()["changed"] is False
    shown = api("get", path, keys["viewer"]).json()
    assert shown["paused"] is True and shown["paused_by"] == "key:p"
    assert api("post", path + "/resume", keys["platform"]).json()["changed"] is True
    audited = OperatorAction.objects.filter(queue=keys["queue"]).values_list("actor", "action")
    assert list(audited) == [("key:p", "pause_queue"), ("key:p", "resume_queue")]
    assert api("post", path + "/resume", keys["platform"]).json()["changed"] is False
    assert api("post", "/queues/nope/pause", keys["platform"]).status_code == 404


def test_workers_list_hides_counters_from_tenants(keys):
    from django.utils import timezone

    now = timezone.now()
    Worker.objects.create(
        worker_id="w1", host="h", pid=1, queues=["demo"], concurrency=2, started_at=now,
        last_seen=now, processed=7,
    )  # fmt: skip
    (mine,) = [w for w in api("get", "/workers", keys["viewer"]).json() if w["worker_id"] == "w1"]
    assert mine["status"] == "alive" and mine["processed"] is None
    (staff,) = [
        w for w in api("get", "/workers", keys["platform"]).json() if w["worker_id"] == "w1"
    ]
    assert staff["processed"] == 7


@pytest.mark.django_db(transaction=True)
def test_runworker_stops_claiming_from_a_paused_queue_within_a_second():
    engine.drop_queue("demo")
    engine.create_queue("demo")
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    key = issue_key(platform, "p", role="admin").key
    with WorkerProcess("--queue", "demo", "--poll-interval", "0.05"):
        warm = spawn("demo.two_steps", {"i": 1}, tenant="ops")
        wait_for(lambda: engine.get_task_result("demo", warm.task_id).state == "completed")
        assert api("post", "/queues/demo/pause", key).status_code == 200
        paused_at = time.monotonic()
        held = spawn("demo.two_steps", {"i": 2}, tenant="ops")
        # The worker claims every 50 ms and is woken by the spawn's NOTIFY: a claim in the
        # next second would have run this task to completion.
        while time.monotonic() - paused_at < 1.0:
            assert engine.get_task_result("demo", held.task_id).state == "pending"
            time.sleep(0.05)
        assert api("post", "/queues/demo/resume", key).status_code == 200
        wait_for(lambda: engine.get_task_result("demo", held.task_id).state == "completed")
