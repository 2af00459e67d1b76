"""Isolation proof for the time display and the step timeline (issue 19 items 6, 7).

They add no id of their own: the timeline is part of the task page (and its polled
part), the end times are fields of the task and its runs in the API, and the runs list's
durations. What tenant B can do with tenant A's task id through each: nothing, 404 as
for a task that does not exist; and B's lists never carry A's end times.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.helpers import api
from tests.timeline_seed import seed_timeline_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    engine.create_queue("demo")
    a = Tenant.objects.create(slug="acme", name="A")
    b = Tenant.objects.create(slug="globex", name="B")
    task = seed_timeline_task(tenant="acme")
    user = get_user_model().objects.create_user("bob", password="a-long-password-1")
    Membership.objects.create(user=user, tenant=b, role="admin")
    client = Client()
    client.force_login(user)
    yield {
        "task": task.task_id,
        "client": client,
        "a_key": issue_key(a, "a", role="viewer").key,
        "b_key": issue_key(b, "b", role="admin").key,
    }
    engine.drop_queue("demo")


def test_b_cannot_see_a_s_timeline_or_end_times_on_the_dashboard(world):
    client, task = world["client"], world["task"]
    for path in (f"/tasks/{task}/", f"/tasks/{task}/live"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"step-timeline" not in response.content
    runs = client.get("/runs/")
    assert runs.status_code == 200 and str(task).encode() not in runs.content


def test_b_cannot_read_a_s_end_times_over_the_api(world):
    task = world["task"]
    assert api("get", f"/tasks/{task}", world["b_key"]).status_code == 404
    assert api("get", f"/tasks/{task}/history", world["b_key"]).status_code == 404
    assert api("get", f"/tasks?q={task}", world["b_key"]).json()["items"] == []
    # A sees its own, with the end times.
    assert [
        i["ended_at"] is not None
        for i in api("get", f"/tasks?q={task}", world["a_key"]).json()["items"]
    ] == [True]
    mine = api("get", f"/tasks/{task}", world["a_key"]).json()
    assert mine["ended_at"] and [bool(r["ended_at"]) for r in mine["runs"]] == [True, True]
