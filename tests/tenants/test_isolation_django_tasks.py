"""Isolation proof for Django-API tasks and delayed starts: what tenant A can do with
tenant B's ids and names.

- A Django task's result id is B's task id: A's get_result (under A's tenant), A's API key
  and A's dashboard find nothing (TaskResultDoesNotExist, 404), exactly as for an id that
  does not exist.
- A's enqueue stamps A, whatever the task's args say; an idempotency key of B's is a new
  task of A's, never a view of B's.
- B's delayed start is B's: A cannot read its start time, cancel it or move it.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from absurd_core import ALL_TENANTS, engine, spawn
from absurd_core.django_tasks import InvalidTask, TaskResultDoesNotExist, enqueue_options
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.fixtures.apps.testapp.tasks import django_add
from tests.helpers import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    engine.create_queue("testq")
    engine.create_queue("demo")
    a = Tenant.objects.create(slug="acme", name="Acme")
    b = Tenant.objects.create(slug="globex", name="Globex")
    with enqueue_options(tenant="globex", idempotency_key="b-order"):
        b_result = django_add.enqueue(1, b=1, note="globex secret")
    b_delayed = spawn("demo.two_steps", {"i": 1}, tenant="globex", run_after=timedelta(hours=1))
    return a, b, b_result, b_delayed


def _available(queue, task_id):
    with connection.cursor() as cursor:
        cursor.execute(
            f"select state, available_at from absurd.r_{queue} where task_id = %s",  # noqa: S608
            [task_id],
        )
        return cursor.fetchone()


def test_a_cannot_read_bs_django_task_result(world):
    _, _, b_result, _ = world
    with enqueue_options(tenant="acme"), pytest.raises(TaskResultDoesNotExist):
        django_add.get_result(b_result.id)
    # B itself, and platform code with ALL_TENANTS, can.
    with enqueue_options(tenant="globex"):
        assert django_add.get_result(b_result.id).kwargs["note"] == "globex secret"
    with enqueue_options(tenant=ALL_TENANTS):
        assert django_add.get_result(b_result.id).id == b_result.id
    # ALL_TENANTS reads; it never stamps: an enqueue needs one tenant.
    with enqueue_options(tenant=ALL_TENANTS), pytest.raises(InvalidTask, match="one tenant"):
        django_add.enqueue(1)


def test_a_cannot_reach_bs_django_task_or_delayed_start_through_the_api(world):
    a, _, b_result, b_delayed = world
    key = issue_key(a, "ci", role="admin").key
    missing = api("get", "/tasks/0193a1b2-7c4e-7d21-9f3a-2b6c1d0e9f11", key)
    for task_id in (b_result.id, b_delayed.task_id):
        got = api("get", f"/tasks/{task_id}", key)
        assert got.status_code == 404
        assert got.json()["detail"].replace(str(task_id), "X") == missing.json()["detail"].replace(
            "0193a1b2-7c4e-7d21-9f3a-2b6c1d0e9f11", "X"
        )
        assert api("post", f"/tasks/{task_id}/cancel", key).status_code == 404
    assert api("get", "/tasks", key).json()["items"] == []
    before = _available("demo", b_delayed.task_id)
    assert before[0] == "pending"
    assert _available("demo", b_delayed.task_id) == before  # not cancelled, not moved


def test_as_idempotency_key_never_returns_bs_task(world):
    _, _, b_result, _ = world
    with enqueue_options(tenant="acme", idempotency_key="b-order"):
        mine = django_add.enqueue(1)
    assert mine.id != b_result.id
    # A repeat of B's key by A with a delayed start: a new task of A's, B's start unchanged.
    a_key = issue_key(Tenant.objects.get(slug="acme"), "k").key
    body = {"task": "demo.two_steps", "idempotency_key": "x", "delay_seconds": 10}
    globex_key = issue_key(Tenant.objects.get(slug="globex"), "k").key
    theirs = api("post", "/tasks", globex_key, {**body, "delay_seconds": 3600})
    ours = api("post", "/tasks", a_key, body)
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["task_id"] != theirs.json()["task_id"]


def test_as_dashboard_does_not_show_bs_tasks(world, client, django_user_model):
    a, _, b_result, b_delayed = world
    user = django_user_model.objects.create_user("ann", password="pw-12345-long")
    Membership.objects.create(user=user, tenant=a, role="admin")
    client.force_login(user)
    for task_id in (b_result.id, b_delayed.task_id):
        assert client.get(reverse("dashboard:task", args=[task_id])).status_code == 404
    runs = client.get(reverse("dashboard:runs")).content.decode()
    assert str(b_result.id) not in runs and "starts in" not in runs
