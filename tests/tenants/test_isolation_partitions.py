"""Isolation proof for partitioned queues: tenant B's tasks in a partitioned queue, tenant
A (an admin of an ordinary tenant) trying every way to name them or the partitions that
hold them, through the API and the dashboard. A gets 404 for B's task ids (as for an id
nobody has), 404 for partition names used as queue names, 403 for the platform's queue
and retention changes, never sees partition sizes (they add up every tenant's tasks), and
B's data is unchanged byte for byte."""

import pytest
from django.test import Client
from django.urls import reverse

from absurd_core import engine
from absurd_core.actions import partitions as partition_actions
from absurd_core.queries.partitions import partition_info
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.helpers import api
from tests.tenants.snapshot import assert_unchanged, tenant_snapshot

pytestmark = pytest.mark.django_db

QUEUE = "bigq"


@pytest.fixture
def world(django_user_model):
    engine.create_queue(QUEUE, storage_mode="partitioned")
    a = Tenant.objects.create(slug="acme", name="Acme")
    b = Tenant.objects.create(slug="globex", name="Globex")
    b_task = engine.spawn_task(QUEUE, "ext.b", {"secret": 1}, headers={"tenant": "globex"})
    user = django_user_model.objects.create_user("a-admin", password="pw-long-12345")
    Membership.objects.create(user=user, tenant=a, role="admin")
    client = Client()
    client.force_login(user)
    week = partition_info(QUEUE).weeks[0].tag
    return {
        "a_key": issue_key(a, "a-admin", role="admin").key,
        "a_client": client,
        "b": b,
        "b_task": str(b_task.task_id),
        "week": week,
    }


def test_a_cannot_read_or_change_bs_tasks_in_a_partitioned_queue(world):
    before = tenant_snapshot("globex")
    key, task = world["a_key"], world["b_task"]
    assert api("get", f"/tasks/{task}", key).status_code == 404
    assert api("get", f"/tasks/{task}/history", key).status_code == 404
    assert api("post", f"/tasks/{task}/cancel", key).status_code == 404
    assert api("post", f"/tasks/{task}/retry", key, {}).status_code == 404
    listed = api("get", f"/tasks?queue={QUEUE}", key).json()
    assert task not in str(listed)
    client = world["a_client"]
    assert client.get(reverse("dashboard:task", args=[task])).status_code == 404
    assert client.post(reverse("dashboard:task_cancel", args=[task])).status_code == 404
    assert task not in client.get(reverse("dashboard:runs") + f"?queue={QUEUE}").content.decode()
    assert_unchanged(before, tenant_snapshot("globex"))


def test_a_sees_no_partition_sizes_and_cannot_change_the_queue(world):
    before = tenant_snapshot("globex")
    key, client = world["a_key"], world["a_client"]
    page = client.get(reverse("dashboard:queues")).content.decode()
    assert 'data-badge="partitioned"' in page
    assert "data-partitions" not in page and "data-bytes" not in page
    assert api("get", f"/queues/{QUEUE}", key).json()["counts"]["pending"] == 0  # A's own
    body = {"name": "mine", "storage_mode": "partitioned"}
    assert api("post", "/queues", key, body).status_code == 403
    for url in ("queue_drop_partitions", "queue_detach_policy"):
        response = client.post(
            reverse(f"dashboard:{url}", args=[QUEUE]), {"detach_mode": "empty", "min_age_days": 1}
        )
        assert response.status_code == 403
    assert engine.get_queue_policy(QUEUE).detach_mode == "none"
    assert len(partition_info(QUEUE).weeks) > 1
    assert not engine.queue_exists("mine")
    assert_unchanged(before, tenant_snapshot("globex"))


def test_partition_names_are_not_queues(world):
    key, client = world["a_key"], world["a_client"]
    for name in (f"{QUEUE}_{world['week']}", f"t_{QUEUE}_{world['week']}", f"{QUEUE}_d"):
        assert api("get", f"/queues/{name}", key).status_code == 404
        assert api("get", f"/tasks?queue={name}", key).status_code in (404, 422)
        assert (
            world["b_task"]
            not in client.get(reverse("dashboard:runs") + f"?queue={name}").content.decode()
        )
        with pytest.raises(Exception, match=r"No queue|not partitioned"):
            partition_actions.drop_old_partitions(_Platform(), name)


class _Platform:
    label = "user:root"
    platform = True

    def require_platform_admin(self, what):
        return None
