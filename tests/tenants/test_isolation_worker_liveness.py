"""Isolation proof for issue 19's liveness and grouping: what tenant A can do with tenant
B's ids.

- A run of B's held by a dead worker: A's runs list never shows B's note, A's scope gets
  nothing for B's task id from ``dead_holds``, and B's task page is a 404 for A.
- Workers are the platform's: A's admin (dashboard or API key) cannot remove one (403),
  and the registry is unchanged.
- Dead-letter groups: A's groups, group filter and group bulk action never count or touch
  B's dead letters, even when B's messages fold into the same key.
"""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from absurd_core.models import DeadLetter, Worker
from absurd_core.queries.dead_letters import DeadLetterFilter, filtered, groups
from absurd_core.queries.worker_holds import dead_holds
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.dashboard.test_dead_letters_page import fail_task

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _held_task(queue, tenant, worker_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id from absurd.spawn_task(%s, 'test.noop', '{}'::jsonb, %s::jsonb)",
            [queue, json.dumps({"headers": {"tenant": tenant}})],
        )
        (task_id,) = cursor.fetchone()
        cursor.execute(
            "select 1 from absurd.claim_task(%s, %s, 120, 1) where task_id = %s",
            [queue, worker_id, task_id],
        )
        assert cursor.fetchone()
    return task_id


@pytest.fixture
def world(queue_name):
    a = Tenant.objects.create(slug="ta", name="A")
    b = Tenant.objects.create(slug="tb", name="B")
    now = timezone.now()
    Worker.objects.create(
        worker_id="w-gone", host="h", pid=1, queues=[queue_name], concurrency=1,
        started_at=now - timedelta(hours=1), last_seen=now - timedelta(seconds=45),
    )  # fmt: skip
    theirs = _held_task(queue_name, "tb", "w-gone")
    mine = _held_task(queue_name, "ta", "w-gone")
    return {"queue": queue_name, "a": a, "b": b, "theirs": theirs, "mine": mine}


def test_dead_holds_are_scoped(world):
    q = world["queue"]
    asked = [(q, world["theirs"]), (q, world["mine"])]
    assert set(dead_holds(TenantScope("ta"), asked)) == {world["mine"]}
    assert set(dead_holds(TenantScope("tb"), asked)) == {world["theirs"]}
    assert set(dead_holds(TenantScope(ALL_TENANTS), asked)) == {world["mine"], world["theirs"]}
    hold = dead_holds(TenantScope("ta"), asked)[world["mine"]]
    assert hold.worker_id == "w-gone" and hold.lease_expires_at > hold.now


def test_a_runs_list_and_task_page_never_show_bs_hold(role_user, client, world):
    client.force_login(role_user(tenant=world["a"], role="admin"))
    html = client.get(reverse("dashboard:runs")).content.decode()
    assert str(world["theirs"]) not in html
    mine = html.split(f'data-task="{world["mine"]}"', 1)[1].split("</tr>", 1)[0]
    assert "held by w-gone, which stopped responding" in mine
    assert client.get(reverse("dashboard:task", args=[world["theirs"]])).status_code == 404
    assert client.get(reverse("dashboard:task_live", args=[world["theirs"]])).status_code == 404


def test_a_tenant_admin_cannot_remove_the_platforms_workers(role_user, client, world):
    client.force_login(role_user(tenant=world["a"], role="admin"))
    response = client.post(reverse("dashboard:remove_worker"), {"worker_id": "w-gone"})
    assert response.status_code == 403
    key = issue_key(world["a"], "k", role="admin").key
    api = Client().delete("/api/v1/workers/w-gone", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.status_code == 403
    assert Worker.objects.filter(worker_id="w-gone").exists()


def test_dead_letter_groups_and_group_actions_stay_in_the_tenant(role_user, client, world):
    q = world["queue"]
    mine = [fail_task(q, "ta", error=("Timeout", f"attempt {n} of {n}")) for n in (1, 2)]
    theirs = [fail_task(q, "tb", error=("Timeout", f"attempt {n} of {n}")) for n in (3, 4, 5)]
    key = ("test.always_fail", "Timeout", "attempt <n> of <n>")
    assert [(g.key, g.count) for g in groups(TenantScope("ta"))] == [(key, 2)]
    flt = DeadLetterFilter(group=key)
    assert set(filtered(TenantScope("ta"), flt).values_list("pk", flat=True)) == {
        d.pk for d in mine
    }
    # B's exact message as the group key selects A's rows only, for A.
    flt = DeadLetterFilter(group=("test.always_fail", "Timeout", "attempt 4 of 4"))
    assert set(filtered(TenantScope("ta"), flt).values_list("pk", flat=True)) == {
        d.pk for d in mine
    }
    client.force_login(role_user(tenant=world["a"], role="operator"))
    group = {"state": "open", "task": key[0], "error_name": key[1], "error": key[2]}
    ask = client.post(reverse("dashboard:dead_letters_bulk"), {"op": "discard:matching", **group},
                      headers=HTMX)  # fmt: skip
    assert 'data-count="2"' in ask.content.decode()
    up_to = DeadLetter.objects.order_by("-pk").first().pk
    client.post(
        reverse("dashboard:dead_letters_bulk"),
        {"op": "discard:matching", **group, "up_to": up_to, "confirmed": "1", "note": "x"},
        headers=HTMX,
    )
    assert {d.pk for d in DeadLetter.objects.filter(state="discarded")} == {d.pk for d in mine}
    assert all(DeadLetter.objects.get(pk=d.pk).state == "open" for d in theirs)
    key_b = issue_key(world["b"], "kb", role="viewer").key
    listed = Client().get("/api/v1/dead-letters/groups", HTTP_AUTHORIZATION=f"Bearer {key_b}")
    assert [(g["error_message"], g["count"]) for g in listed.json()["items"]] == [
        ("attempt <n> of <n>", 3)
    ]
