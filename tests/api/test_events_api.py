"""POST /api/v1/events: the tenant's own namespace, first emit wins, how many it woke, the
platform's raw emit, bad input changes nothing."""

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine, spawn
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import WorkerProcess, api, wait_for


@pytest.fixture
def keys(db, queue_name):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    other = Tenant.objects.create(slug="other", name="Other")
    ops = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    return {
        "queue": queue_name,
        "platform": issue_key(ops, "p", role="operator").key,
        "admin": issue_key(acme, "adm", role="admin").key,
        "operator": issue_key(acme, "op", role="operator").key,
        "viewer": issue_key(acme, "v", role="viewer").key,
        "narrow": issue_key(acme, "n", role="operator", scopes=["tasks:write"]).key,
        "other": issue_key(other, "o", role="operator").key,
    }


def stored(queue: str) -> dict:
    with connection.cursor() as cursor:
        query = sql.SQL(
            "select event_name, payload from absurd.{} where payload is not null"
        ).format(sql.Identifier(f"e_{queue}"))
        cursor.execute(query.as_string(cursor.connection))
        return {name: engine.load_json(payload) for name, payload in cursor.fetchall()}


def test_first_emit_is_201_and_a_repeat_is_200_with_the_winning_payload(keys):
    body = {"queue": keys["queue"], "name": "order-42", "payload": {"n": 1}}
    first = api("post", "/events", keys["operator"], body)
    assert first.status_code == 201, first.content
    assert first.json() == {
        "queue": keys["queue"],
        "name": "order-42",
        "event_name": "tenant:acme:order-42",
        "first": True,
        "payload": {"n": 1},
        "woken": 0,
        "raw": False,
    }
    again = api("post", "/events", keys["operator"], {**body, "payload": {"n": 2}})
    assert again.status_code == 200
    assert again.json()["first"] is False and again.json()["payload"] == {"n": 1}
    assert again.json()["woken"] == 0
    assert stored(keys["queue"]) == {"tenant:acme:order-42": {"n": 1}}


def test_tenants_cannot_reach_each_others_names_or_approval_events(keys):
    api("post", "/events", keys["other"], {"queue": keys["queue"], "name": "order-42"})
    api("post", "/events", keys["operator"], {"queue": keys["queue"], "name": "approval:1"})
    mine = api("post", "/events", keys["operator"], {"queue": keys["queue"], "name": "order-42"})
    assert mine.status_code == 201  # the other tenant's emit did not take the name
    assert set(stored(keys["queue"])) == {
        "tenant:other:order-42",
        "tenant:acme:approval:1",
        "tenant:acme:order-42",
    }


@pytest.mark.parametrize(
    "key, body, status",
    [
        ("viewer", {"name": "x"}, 403),
        ("narrow", {"name": "x"}, 403),
        ("operator", {"name": ""}, 422),
        ("operator", {"name": "x" * 201}, 422),
        ("operator", {"name": "bell\u0007"}, 422),
        ("operator", {"name": "x", "queue": "nope"}, 404),
        ("operator", {"name": "x", "queue": "a; drop table x"}, 404),
        ("operator", {"queue": "q"}, 422),
        # A raw name is the platform's: not for an ordinary tenant's operator, nor its admin.
        ("operator", {"name": "x", "raw": True}, 403),
        ("admin", {"name": "x", "raw": True}, 403),
        # System names are emitted only by a recorded decision, even by the platform.
        ("platform", {"name": "approval:1", "raw": True}, 403),
        ("platform", {"name": "approval:abc:0192", "raw": True}, 403),
    ],
)
def test_bad_requests_change_nothing(keys, key, body, status):
    response = api("post", "/events", keys[key], {"queue": keys["queue"], **body})
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert stored(keys["queue"]) == {}


@pytest.mark.django_db(transaction=True)
def test_an_emitted_event_wakes_the_tenants_waiting_task():
    engine.drop_queue("demo")
    engine.create_queue("demo")
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "op").key
    task = spawn("demo.wait_event", {"event": "go", "tenant_event": True}, tenant="acme")
    with WorkerProcess("--queue", "demo", "--poll-interval", "0.05"):
        wait_for(lambda: engine.get_task_result("demo", task.task_id).state == "sleeping")
        response = api("post", "/events", key, {"queue": "demo", "name": "go", "payload": [1]})
        assert response.status_code == 201
        wait_for(lambda: engine.get_task_result("demo", task.task_id).state == "completed")
    assert engine.get_task_result("demo", task.task_id).result == [1]


def waiting(queue: str, event: str, tenant: str | None = "acme", timeout=None):
    """A task of ``tenant`` asleep in absurd.await_event for ``event`` (the engine's name)."""
    headers = {"tenant": tenant} if tenant else {}
    task_id = engine.spawn_task(queue, "demo.wait_event", {}, headers=headers).task_id
    with connection.cursor() as cursor:
        cursor.execute(
            "select run_id from absurd.claim_task(%s, 'w', 60, 10) where task_id = %s",
            [queue, task_id],
        )
        run_id = cursor.fetchone()[0]
        cursor.execute(
            "select * from absurd.await_event(%s, %s, %s, 'wait', %s, %s)",
            [queue, task_id, run_id, event, timeout],
        )
    return task_id


def test_woken_counts_the_waiting_tasks_the_emit_woke(keys):
    queue = keys["queue"]
    mine = [waiting(queue, "tenant:acme:paid") for _ in range(3)]
    waiting(queue, "tenant:acme:paid", timeout=0)  # its wait is over: not woken by the emit
    others = waiting(queue, "tenant:other:paid", tenant="other")
    response = api("post", "/events", keys["operator"], {"queue": queue, "name": "paid"})
    assert response.status_code == 201 and response.json()["woken"] == 3
    assert {engine.get_task_result(queue, t).state for t in mine} == {"pending"}
    assert engine.get_task_result(queue, others).state == "sleeping"
    again = api("post", "/events", keys["operator"], {"queue": queue, "name": "paid"})
    assert again.status_code == 200 and again.json()["woken"] == 0


def test_a_platform_key_emits_a_raw_name(keys):
    queue = keys["queue"]
    platform_task = waiting(queue, "deploy:done", tenant=None)
    body = {"queue": queue, "name": "deploy:done", "payload": {"v": 2}, "raw": True}
    response = api("post", "/events", keys["platform"], body)
    assert response.status_code == 201, response.content
    assert response.json() == {
        "queue": queue,
        "name": "deploy:done",
        "event_name": "deploy:done",
        "first": True,
        "payload": {"v": 2},
        "woken": 1,
        "raw": True,
    }
    assert engine.get_task_result(queue, platform_task).state == "pending"
    assert stored(queue) == {"deploy:done": {"v": 2}}
    # Without raw, a platform key emits in its own tenant's namespace like any other key.
    plain = api("post", "/events", keys["platform"], {"queue": queue, "name": "deploy:done"})
    assert plain.json()["event_name"] == "tenant:ops:deploy:done"


def test_a_raw_emit_by_an_ordinary_key_is_403_and_wakes_nothing(keys):
    queue = keys["queue"]
    task = waiting(queue, "deploy:done", tenant=None)
    body = {"queue": queue, "name": "deploy:done", "raw": True}
    response = api("post", "/events", keys["admin"], body)
    assert response.status_code == 403
    assert "platform" in response.json()["detail"]
    assert stored(queue) == {} and engine.get_task_result(queue, task).state == "sleeping"
