"""Isolation proof for child workflows: what tenant B can do with tenant A's parent.

Every way to *name* something of a tree: A's parent id (children endpoint, runs search
qualifiers), the wake-up event of A's wait (system name, emitted only by the children
trigger), a child's idempotency key, and the tenant a child runs in (taken from the
parent's record, never from params). After each attempt A's tree is unchanged.
"""

import pytest
from django.db import connection

from absurd_core import engine, spawn
from absurd_core.children import PARENT
from absurd_core.worker.connection import connect
from absurd_core.worker.context import build_context
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api

pytestmark = pytest.mark.django_db(transaction=True)

RAW_QUEUE = "kidsx"


@pytest.fixture
def world(absurd):
    engine.create_queue("testq")
    engine.create_queue(RAW_QUEUE)
    a = Tenant.objects.create(slug="ta", name="A")
    b = Tenant.objects.create(slug="tb", name="B")
    ops = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    parent = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}]},
        tenant="ta",
    )
    # run(), not drain(): other tests' leftovers on testq are not this test's business.
    assert absurd.run(parent).status == "suspended"
    yield {
        "parent": str(parent.task_id),
        "absurd": absurd,
        "a_key": issue_key(a, "a", role="admin").key,
        "b_key": issue_key(b, "b", role="admin").key,
        "ops_key": issue_key(ops, "ops", role="admin").key,
    }


def tree(parent):
    """A's parent and children as the engine has them (the thing that must not change)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id::text, state, headers::text from absurd.t_testq where task_id = %s"
            " union all select task_id::text, state, headers::text from absurd.t_kidsx"
            " where headers->>%s = %s order by 1",
            [parent, PARENT, parent],
        )
        return cursor.fetchall()


def wait_event(parent):
    with connection.cursor() as cursor:
        cursor.execute(
            "select event_name, fired_at from absurd_control.child_wait where parent_task_id = %s",
            [parent],
        )
        return cursor.fetchone()


def test_bs_key_gets_404_for_as_children_as_for_an_unknown_id(world):
    before = tree(world["parent"])
    answer = api("get", f"/tasks/{world['parent']}/children", world["b_key"])
    unknown = api("get", "/tasks/01a247e7-0000-7000-8000-000000000000/children", world["b_key"])
    assert answer.status_code == unknown.status_code == 404
    assert answer.json()["title"] == unknown.json()["title"]
    assert api("get", f"/tasks/{world['parent']}/children", world["a_key"]).status_code == 200
    assert tree(world["parent"]) == before


@pytest.mark.parametrize("qualifier", ["parent", "root"])
def test_bs_runs_search_by_as_parent_or_root_finds_nothing(world, qualifier):
    mine = api("get", f"/tasks?q={qualifier}:{world['parent']}", world["a_key"]).json()
    assert len(mine["items"]) == 2
    theirs = api("get", f"/tasks?q={qualifier}:{world['parent']}", world["b_key"]).json()
    assert theirs["items"] == []


def test_nobody_can_emit_or_await_the_wake_up_of_as_wait(world):
    event_name, fired_at = wait_event(world["parent"])
    assert event_name.startswith("children:") and event_name.endswith(world["parent"])
    assert fired_at is None
    before = tree(world["parent"])
    # B's key, namespaced or raw; even a platform key's raw emit: refused, nothing emitted.
    as_b = api("post", "/events", world["b_key"], {"queue": "testq", "name": event_name})
    assert as_b.status_code == 201  # B's own namespace: tenant:tb:children:...
    assert as_b.json()["event_name"] == f"tenant:tb:{event_name}"
    raw_b = api(
        "post", "/events", world["b_key"], {"queue": "testq", "name": event_name, "raw": True}
    )
    assert raw_b.status_code == 403
    raw_ops = api(
        "post", "/events", world["ops_key"], {"queue": "testq", "name": event_name, "raw": True}
    )
    assert raw_ops.status_code in (403, 422)
    # B's task awaiting the name waits in B's namespace; the system path refuses it.
    b_task = spawn("test.square", {"x": 1}, tenant="tb")
    with connection.cursor() as cursor:
        cursor.execute(
            "select * from absurd.claim_task('testq', 'b', 60, 10) where task_id = %s",
            [b_task.task_id],
        )
        columns = [c.name for c in cursor.description]
        claimed = dict(zip(columns, cursor.fetchone(), strict=True))
    claimed["headers"] = engine.load_json(claimed["headers"])
    worker_conn = connect(application_name="isolation-children")
    try:
        ctx = build_context(worker_conn, "testq", claimed, 60)
        assert ctx.event_name(event_name) == f"tenant:tb:{event_name}"
        with pytest.raises(ValueError, match="not a system event owed to this task"):
            ctx._await_system_event(event_name)
    finally:
        worker_conn.close()
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd.e_testq where event_name = %s and payload is not null",
            [event_name],
        )
        assert cursor.fetchone()[0] == 0
    assert tree(world["parent"]) == before
    assert wait_event(world["parent"])[1] is None  # A's wait still waits


def test_b_reusing_a_child_key_of_a_lands_in_bs_namespace_and_a_is_unchanged(world):
    key = f"child:{world['parent']}:$children:ext.job:0"
    before = tree(world["parent"])
    answer = api("post", "/tasks", world["b_key"], {"task": "test.square", "idempotency_key": key})
    assert answer.status_code == 201  # a new task of B's, not A's child
    assert answer.json()["task_id"] not in [row[0] for row in before]
    assert tree(world["parent"]) == before


def test_a_taken_child_key_fails_the_parents_step_instead_of_adopting_the_task(world):
    """Even in A's own tenant, a task created under a parent's child key from outside
    (here through the API) is never adopted as a child."""
    parent = spawn("test.parent", {"children": [{"x": 3}]}, tenant="ta", max_attempts=1)
    key = f"child:{parent.task_id}:$children:test.square:0"
    squatter = api(
        "post", "/tasks", world["a_key"],
        {"task": "test.square", "params": {"x": 99}, "idempotency_key": key},
    ).json()  # fmt: skip
    assert world["absurd"].run(parent, raise_failures=False).status == "failed"
    result = world["absurd"].result(parent)
    assert result.state == "failed"
    assert "idempotency key" in result.failure["message"]
    with connection.cursor() as cursor:
        cursor.execute(
            "select headers->>%s from absurd.t_testq where task_id = %s",
            [PARENT, squatter["task_id"]],
        )
        assert cursor.fetchone()[0] is None


def test_children_run_in_the_parents_tenant_whatever_the_params_say(world):
    parent = spawn(
        "test.parent", {"children": [{"x": 2, "tenant": "ta"}], "tenant": "ta"}, tenant="tb"
    )
    absurd = world["absurd"]
    assert absurd.run(parent).status == "suspended"
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id, headers->>'tenant' from absurd.t_testq where headers->>%s = %s",
            [PARENT, str(parent.task_id)],
        )
        ((child, tenant),) = cursor.fetchall()
    assert tenant == "tb"
    assert absurd.run(child).status == "completed"
    assert absurd.run(parent).status == "completed"
    assert absurd.result(parent).result["values"] == [4]
    # And A cannot see B's tree.
    assert api("get", f"/tasks/{parent.task_id}/children", world["a_key"]).status_code == 404
