"""Child workflows (issue 17): spawn, wait without polling, failure, cancel cascade.

Parents run in real ``runworker`` subprocesses; children are ended by the worker or
by raw SQL (what absurdctl or a psql session does), and the parent must wake either way.
"""

import json
import signal

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.children import DEPTH, ON_PARENT_CANCEL, PARENT, ROOT
from tests.helpers import WorkerProcess, raw_connection, terminal_result, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ("--queue", "testq", "--poll-interval", "0.1", "--claim-timeout", "2")
RAW_QUEUE = "kidsx"  # no worker serves it: only raw SQL ends its tasks


@pytest.fixture(autouse=True)
def queues():
    engine.create_queue("testq")
    engine.create_queue(RAW_QUEUE)
    engine.create_queue("demo")


def _result(queue, task_id):
    return engine.get_task_result(queue, task_id)


def _children(queue, parent_id):
    query = sql.SQL(
        "select task_id::text, state, headers, params from absurd.{}"
        " where headers->>%s = %s order by task_id"
    ).format(sql.Identifier(f"t_{queue}"))
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), [PARENT, str(parent_id)])
        return [
            (
                t,
                state,
                json.loads(h) if isinstance(h, str) else h,
                json.loads(p) if isinstance(p, str) else p,
            )
            for t, state, h, p in cursor.fetchall()
        ]


def _claim_and(queue, child_id, action):
    """End one child by raw SQL: claim it as a foreign worker, then complete or fail it."""
    with raw_connection() as conn:
        run_id = None
        for _ in range(50):
            rows = conn.execute(
                "select run_id, task_id from absurd.claim_task(%s, 'psql', 60, 50)", (queue,)
            ).fetchall()
            mine = [r for r in rows if str(r[1]) == child_id]
            for other_run, other_task in rows:  # put back what we did not want
                if str(other_task) != child_id:
                    conn.execute(
                        "select absurd.schedule_run(%s, %s, absurd.current_time())",
                        (queue, other_run),
                    )
            if mine:
                run_id = mine[0][0]
                break
        assert run_id is not None, "child not claimable"
        if action == "complete":
            conn.execute(
                "select absurd.complete_run(%s, %s, %s::jsonb)", (queue, run_id, '{"raw": true}')
            )
        else:
            conn.execute(
                "select absurd.fail_run(%s, %s, %s::jsonb)",
                (queue, run_id, '{"name": "RawError", "message": "failed by psql"}'),
            )


def _sleeping(task_id):
    return _result("testq", task_id).state == "sleeping"


def test_fan_out_sums_its_children_and_records_the_relationship():
    parent = spawn("demo.fan_out", {"n": 12}, tenant="t1")
    with WorkerProcess("--queue", "demo", "--poll-interval", "0.1"):
        result = wait_for(lambda: terminal_result("demo", parent.task_id), timeout=60)
    assert result.state == "completed"
    assert result.result == {"n": 12, "sum": sum(i * i for i in range(12))}
    children = _children("demo", parent.task_id)
    assert len(children) == 12
    for _, state, headers, _params in children:
        assert state == "completed"
        assert headers["tenant"] == "t1"  # inherited from the parent's record
        assert headers[ROOT] == str(parent.task_id)
        assert headers[DEPTH] == 1
        assert headers[ON_PARENT_CANCEL] == "cancel"
    # One wake-up event for the one wait, in the system namespace, bound to the parent.
    with connection.cursor() as cursor:
        cursor.execute(
            "select event_name from absurd.e_demo where event_name like %s",
            [f"children:%:{parent.task_id}"],
        )
        assert len(cursor.fetchall()) == 1


def test_children_completed_by_raw_sql_wake_the_parent():
    parent = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{"i": 1}, {"i": 2}]},
        tenant="t1",
    )
    with WorkerProcess(*FAST):
        wait_for(lambda: _sleeping(parent.task_id), timeout=30)
        ids = [c[0] for c in _children(RAW_QUEUE, parent.task_id)]
        assert len(ids) == 2
        _claim_and(RAW_QUEUE, ids[0], "complete")
        assert _sleeping(parent.task_id)  # mode "all": one of two is not enough
        _claim_and(RAW_QUEUE, ids[1], "complete")
        result = wait_for(lambda: terminal_result("testq", parent.task_id), timeout=30)
    assert result.state == "completed"
    assert sorted(result.result["ended"]) == sorted(ids)
    assert result.result["values"] == [{"raw": True}, {"raw": True}]


def test_first_mode_wakes_on_the_first_child_and_any_n_on_the_nth():
    first = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}, {}], "mode": "first"},
        tenant="t1",
    )
    any_two = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}, {}], "mode": "any_n", "n": 2},
        tenant="t1",
    )
    with WorkerProcess(*FAST):
        wait_for(lambda: _sleeping(first.task_id) and _sleeping(any_two.task_id), timeout=30)
        first_ids = [c[0] for c in _children(RAW_QUEUE, first.task_id)]
        two_ids = [c[0] for c in _children(RAW_QUEUE, any_two.task_id)]
        _claim_and(RAW_QUEUE, first_ids[1], "complete")
        done = wait_for(lambda: terminal_result("testq", first.task_id), timeout=30)
        _claim_and(RAW_QUEUE, two_ids[0], "complete")
        assert _sleeping(any_two.task_id)
        _claim_and(RAW_QUEUE, two_ids[2], "complete")
        done_two = wait_for(lambda: terminal_result("testq", any_two.task_id), timeout=30)
    assert done.result["ended"] == [first_ids[1]]
    assert done_two.result["ended"] == [two_ids[0], two_ids[2]]


def test_a_failed_child_raises_a_typed_exception_in_the_parent():
    parent = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}], "max_attempts": 1},
        tenant="t1",
    )
    with WorkerProcess(*FAST):
        wait_for(lambda: _sleeping(parent.task_id), timeout=30)
        ids = [c[0] for c in _children(RAW_QUEUE, parent.task_id)]
        _claim_and(RAW_QUEUE, ids[0], "fail")
        assert _result(RAW_QUEUE, ids[0]).state == "failed"
        # Fail fast: mode "all", yet the other child is still pending.
        result = wait_for(lambda: terminal_result("testq", parent.task_id), timeout=30)
    assert result.state == "completed"
    assert result.result["type"] == "ChildFailed"
    assert result.result["failed"] == ids[0]
    assert result.result["state"] == "failed"
    assert result.result["error"]["message"] == "failed by psql"
    assert _result(RAW_QUEUE, ids[1]).state in ("pending", "sleeping")  # not ended


def test_a_child_cancelled_by_raw_sql_raises_child_cancelled():
    parent = spawn(
        "test.parent", {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}]}, tenant="t1"
    )
    with WorkerProcess(*FAST):
        wait_for(lambda: _sleeping(parent.task_id), timeout=30)
        (child_id,) = [c[0] for c in _children(RAW_QUEUE, parent.task_id)]
        with raw_connection() as conn:
            conn.execute("select absurd.cancel_task(%s, %s)", (RAW_QUEUE, child_id))
        result = wait_for(lambda: terminal_result("testq", parent.task_id), timeout=30)
    assert result.result["type"] == "ChildCancelled"
    assert result.result["failed"] == child_id
    assert result.result["state"] == "cancelled"


def test_cancelling_the_parent_by_raw_sql_cancels_its_children_not_abandoned_ones():
    cascade = spawn(
        "test.parent", {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}]}, tenant="t1"
    )
    abandon = spawn(
        "test.parent",
        {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}], "on_parent_cancel": "abandon"},
        tenant="t1",
    )
    with WorkerProcess(*FAST):
        wait_for(lambda: _sleeping(cascade.task_id) and _sleeping(abandon.task_id), timeout=30)
    kids = [c[0] for c in _children(RAW_QUEUE, cascade.task_id)]
    (kept,) = [c[0] for c in _children(RAW_QUEUE, abandon.task_id)]
    _claim_and(RAW_QUEUE, kids[0], "complete")  # an ended child stays as it ended
    with raw_connection() as conn:
        conn.execute("select absurd.cancel_task('testq', %s)", (cascade.task_id,))
        conn.execute("select absurd.cancel_task('testq', %s)", (abandon.task_id,))
    assert _result(RAW_QUEUE, kids[0]).state == "completed"
    assert _result(RAW_QUEUE, kids[1]).state == "cancelled"
    assert _result(RAW_QUEUE, kept).state in ("pending", "sleeping")  # abandoned: runs on


def test_grandchildren_follow_a_cancelled_root():
    root = spawn(
        "test.parent",
        {
            "task": "test.parent",
            "children": [{"task": "ext.job", "queue": RAW_QUEUE, "children": [{}]}],
        },
        tenant="t1",
    )
    with WorkerProcess(*FAST):

        def grandchild():
            kids = _children("testq", root.task_id)
            return kids and _children(RAW_QUEUE, kids[0][0])

        (gc,) = wait_for(grandchild, timeout=30)
        (child,) = _children("testq", root.task_id)
        wait_for(lambda: _sleeping(child[0]), timeout=30)
    assert gc[2][ROOT] == str(root.task_id)
    assert gc[2][DEPTH] == 2
    with raw_connection() as conn:
        conn.execute("select absurd.cancel_task('testq', %s)", (root.task_id,))
    assert _result("testq", child[0]).state == "cancelled"
    assert _result(RAW_QUEUE, gc[0]).state == "cancelled"


def test_kill_9_after_half_the_children_then_retry_starts_each_child_once(side_effects):
    parent = spawn("test.parent_half_then_pause", {"n": 8, "seconds": 120}, tenant="t1")
    first = WorkerProcess(*FAST)
    with first:
        wait_for(lambda: side_effects(parent.task_id, "pause") == 1, timeout=30)
        assert len(_children("testq", parent.task_id)) == 4
        first.stop(signal.SIGKILL)
    with WorkerProcess(*FAST):
        result = wait_for(lambda: terminal_result("testq", parent.task_id), timeout=90)
    assert result.state == "completed", result
    assert result.result == {"sum": sum(i * i for i in range(8))}
    children = _children("testq", parent.task_id)
    assert len(children) == 8  # each child once
    assert sorted(c[3]["x"] for c in children) == list(range(8))
    assert side_effects(parent.task_id, "pause") == 1
    with connection.cursor() as cursor:
        cursor.execute("select attempts from absurd.t_testq where task_id = %s", [parent.task_id])
        assert cursor.fetchone()[0] >= 2  # it really was retried


def test_a_fan_out_over_the_tenants_spawn_burst_proceeds_at_the_tenants_rate():
    """Children count against the spawn rate: 60 children with a burst of 10 and 40/s.
    The parent sleeps between refused chunks (no thread held) and starts each child once."""
    from tenants.models import RateLimitPolicy, Tenant

    tenant = Tenant.objects.create(slug="burst", name="Burst")
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=40, spawn_burst=10, max_running=100)
    parent = spawn("demo.fan_out", {"n": 60}, tenant="burst")
    with WorkerProcess("--queue", "demo", "--poll-interval", "0.1"):
        result = wait_for(lambda: terminal_result("demo", parent.task_id), timeout=90)
    assert result.state == "completed", result
    assert result.result == {"n": 60, "sum": sum(i * i for i in range(60))}
    children = _children("demo", parent.task_id)
    assert sorted(c[3]["x"] for c in children) == list(range(60))  # each once
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd_control_task_event"
            " where task_id = %s and kind = 'sleeping'",
            [parent.task_id],
        )
        assert cursor.fetchone()[0] >= 2  # it waited for tokens, then for its children
