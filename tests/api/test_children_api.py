"""Children over the API: GET /tasks/{id}/children (keyset pages, state filter), the
parent and root ids in task responses, and no way to spawn a child from outside."""

import json

import pytest
from django.db import connection
from django.test import Client

from absurd_core import engine, spawn
from absurd_core.children import PARENT
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import raw_connection

pytestmark = pytest.mark.django_db(transaction=True)

RAW_QUEUE = "kidsx"


@pytest.fixture
def world(absurd):
    engine.create_queue("testq")
    engine.create_queue(RAW_QUEUE)
    acme = Tenant.objects.create(slug="acme", name="Acme")
    other = Tenant.objects.create(slug="other", name="Other")
    parent = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{"i": i} for i in range(5)]},
        tenant="acme",
    )
    # The parent starts its five children (on a queue no Python worker serves) and sleeps.
    # run(), not drain(): other tests' leftovers on testq are not this test's business.
    assert absurd.run(parent).status == "suspended"
    yield {
        "parent": str(parent.task_id),
        "viewer": issue_key(acme, "v", role="viewer").key,
        "operator": issue_key(acme, "op", role="operator").key,
        "other": issue_key(other, "o", role="admin").key,
    }


def call(method, path, key, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(Client(), method)(f"/api/v1/tasks{path}", **kwargs)


def child_ids(parent):
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id::text from absurd.t_kidsx where headers->>%s = %s order by task_id",
            [PARENT, parent],
        )
        return [row[0] for row in cursor.fetchall()]


def squares():
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_testq where task_name = 'test.square'")
        return cursor.fetchone()[0]


def test_children_are_listed_newest_first_in_keyset_pages(world):
    ids = child_ids(world["parent"])
    assert len(ids) == 5
    first = call("get", f"/{world['parent']}/children?limit=2", world["viewer"])
    assert first.status_code == 200
    page = first.json()
    seen = [item["task_id"] for item in page["items"]]
    while page["next_cursor"]:
        page = call(
            "get", f"/{world['parent']}/children?limit=2&cursor={page['next_cursor']}",
            world["viewer"],
        ).json()  # fmt: skip
        seen += [item["task_id"] for item in page["items"]]
    assert seen == sorted(ids, reverse=True)  # every child once, newest first
    assert {item["queue"] for item in first.json()["items"]} == {RAW_QUEUE}


def test_the_state_filter(world):
    ids = child_ids(world["parent"])
    with raw_connection() as conn:
        conn.execute("select absurd.cancel_task(%s, %s)", (RAW_QUEUE, ids[0]))
    cancelled = call("get", f"/{world['parent']}/children?state=cancelled", world["viewer"])
    assert [i["task_id"] for i in cancelled.json()["items"]] == [ids[0]]
    pending = call("get", f"/{world['parent']}/children?state=pending", world["viewer"]).json()
    assert sorted(i["task_id"] for i in pending["items"]) == ids[1:]
    bad = call("get", f"/{world['parent']}/children?state=exploded", world["viewer"])
    assert bad.status_code == 422
    assert bad["Content-Type"].startswith("application/problem+json")


def test_task_responses_name_the_parent_and_the_root(world):
    child = call("get", f"/{child_ids(world['parent'])[0]}", world["viewer"]).json()
    assert child["parent_task_id"] == world["parent"]
    assert child["root_task_id"] == world["parent"]
    top = call("get", f"/{world['parent']}", world["viewer"]).json()
    assert top["parent_task_id"] is None and top["root_task_id"] is None


def test_a_task_without_children_has_an_empty_page_and_an_unknown_id_is_404(world):
    lone = spawn("test.square", {"x": 2}, tenant="acme")
    assert call("get", f"/{lone.task_id}/children", world["viewer"]).json() == {
        "items": [],
        "next_cursor": None,
    }
    missing = call("get", "/01a247e7-0000-7000-8000-000000000000/children", world["viewer"])
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "extra",
    [
        {"parent_task_id": "01a247e7-0000-7000-8000-000000000000"},
        {"headers": {"absurd_control.parent": "01a247e7-0000-7000-8000-000000000000"}},
    ],
)
def test_spawning_a_child_through_the_api_is_refused(world, extra):
    before = child_ids(world["parent"])
    squares_before = squares()
    response = call(
        "post", "", world["operator"], {"task": "test.square", "params": {"x": 1}, **extra}
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert squares() == squares_before  # nothing spawned
    assert child_ids(world["parent"]) == before
