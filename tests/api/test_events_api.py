"""POST /api/v1/events: the tenant's own namespace, first emit wins, bad input changes nothing."""

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
    return {
        "queue": queue_name,
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
    }
    again = api("post", "/events", keys["operator"], {**body, "payload": {"n": 2}})
    assert again.status_code == 200
    assert again.json()["first"] is False and again.json()["payload"] == {"n": 1}
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
