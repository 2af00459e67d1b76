"""What tenant A can do with tenant B's ids when reads come from the read replica: nothing.

Reads from the replica (config/replica.py) go through the same tenant-scoped queries as
reads from the primary; the read-your-writes cookie is signed, names only a WAL position,
and a forged or foreign one changes nothing but which server answers.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.dashboard.test_task_page import sleeping, state, url
from tests.helpers import raw_connection, role_user
from tests.replica import replica_fixture, wait_until_replayed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def queue():
    name = f"i_{uuid.uuid4().hex[:10]}"
    engine.create_queue(name)
    yield name
    engine.drop_queue(name)


@pytest.fixture
def world(replica, queue):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    theirs = sleeping(queue, tenant="globex")
    ours = sleeping(queue, tenant="acme")
    with raw_connection() as primary:
        wait_until_replayed(replica, primary)
    client = Client()
    client.force_login(role_user("a-op", acme, "operator"))
    return client, acme, globex, ours, theirs


def test_a_tenant_reading_the_replica_sees_none_of_anothers_tasks(world, queue):
    client, acme, _, ours, theirs = world
    runs = client.get(reverse("dashboard:runs")).content.decode()
    assert str(ours) in runs and str(theirs) not in runs
    assert client.get(url("task", theirs)).status_code == 404
    key = issue_key(acme, "ci").key
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert Client().get(f"/api/v1/tasks/{theirs}", **auth).status_code == 404
    listed = Client().get("/api/v1/tasks", {"queue": queue}, **auth).json()["items"]
    assert {item["task_id"] for item in listed} == {str(ours)}


def test_acting_on_another_tenants_task_is_404_and_pins_nothing_of_theirs(world, queue):
    client, _, _, _, theirs = world
    response = client.post(url("task_cancel", theirs), {"confirmed": "1"})
    assert response.status_code == 404
    assert state(queue, theirs) == "sleeping"
    # The refused request still counts as a write for routing (the primary answers next):
    # that shows A nothing more of B's.
    assert client.get(url("task", theirs)).status_code == 404


def test_a_forged_pin_cookie_is_ignored(world):
    client, _, _, ours, theirs = world
    client.cookies["absurd_read_after"] = "0/0:forged:signature"
    response = client.get(reverse("dashboard:runs"))
    assert response.status_code == 200
    body = response.content.decode()
    assert str(ours) in body and str(theirs) not in body
