"""POST /api/v1/tasks: the key's tenant is stamped; the spawn rate gives 429 + Retry-After."""

import json

import pytest
from django.db import connection
from django.test import Client

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import RateLimitPolicy, Tenant


@pytest.fixture
def acme(db):
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    return tenant


def post(key, body):
    return Client().post(
        "/api/v1/tasks",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def tasks_of(tenant):
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_demo where headers->>'tenant' = %s", [tenant])
        return cursor.fetchone()[0]


def test_spawn_stamps_the_keys_tenant_and_repeats_are_200(acme):
    key = issue_key(acme, "ci").key
    body = {"task": "demo.two_steps", "params": {"i": 1}, "idempotency_key": "k1"}
    first = post(key, body)
    assert first.status_code == 201 and first.json()["created"] is True
    again = post(key, body)
    assert again.status_code == 200 and again.json()["task_id"] == first.json()["task_id"]
    assert tasks_of("acme") == 1


def test_idempotency_keys_belong_to_their_tenant(acme):
    other = Tenant.objects.create(slug="other", name="Other")
    body = {"task": "demo.two_steps", "params": {"i": 1}, "idempotency_key": "k1"}
    mine = post(issue_key(acme, "ci").key, body)
    theirs = post(issue_key(other, "ci").key, body)
    # The same key from another tenant is a new task of theirs, not a view of ours.
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["task_id"] != theirs.json()["task_id"]
    assert tasks_of("acme") == tasks_of("other") == 1


def test_over_the_spawn_rate_is_429_with_retry_after_and_nothing_spawned(acme):
    RateLimitPolicy.objects.create(tenant=acme, spawn_rate=0.01, spawn_burst=1)
    key = issue_key(acme, "ci").key
    assert post(key, {"task": "demo.two_steps", "params": {"i": 1}}).status_code == 201
    refused = post(key, {"task": "demo.two_steps", "params": {"i": 2}})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 90  # one token per 100 s
    assert "over its spawn rate" in refused.json()["detail"]
    assert tasks_of("acme") == 1


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("viewer", {"task": "demo.two_steps"}, 403),
        ("operator", {"task": "no.such.task"}, 404),
        # Internal: only the server spawns it, and it is answered as an unknown name.
        ("admin", {"task": "approvals.deliver", "params": {"request_id": 1}}, 404),
        ("operator", {"task": "demo.two_steps", "max_attempts": 0}, 422),
        ("operator", {"params": {}}, 422),
    ],
)
def test_refused_spawns_change_nothing(acme, role, body, status):
    key = issue_key(acme, "k", role=role).key
    assert post(key, body).status_code == status
    assert tasks_of("acme") == 0


def test_a_tenant_header_in_params_is_just_data(acme):
    key = issue_key(acme, "ci").key
    response = post(key, {"task": "demo.two_steps", "params": {"i": 1, "tenant": "other"}})
    assert response.status_code == 201
    assert tasks_of("acme") == 1 and tasks_of("other") == 0
