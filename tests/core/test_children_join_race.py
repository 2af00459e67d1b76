"""A parent's await meets its last child's end (issue 17, join latency follow-up).

bench/fan_out.py's join latency had p99 ~2 s: about one parent in 100 failed its first
run with a deadlock and ran again after its retry delay. The interleaving, reproduced
here deterministically with the worker's own context on one side and raw SQL (as psql
or another worker would end a child) on the other:

- the child's ender (complete_run's trigger, children.sql) holds the parent's runs FOR
  KEY SHARE (its lock order against a parent's canceller) and then emits the wait's
  event, which locks the event row;
- the parent's ``absurd.await_event`` locks the event row FOR SHARE first, then its
  own run FOR UPDATE.

Event row then run on one side, run then event row on the other: PostgreSQL waited for
deadlock_timeout (1 s), failed one of them, and the parent ran again a retry delay later.
The parent now takes its own run first (the lock await_event takes anyway), so both
sides lock the run before the event row.
"""

import json
import threading

import pytest
from absurd_sdk import SuspendTask
from psycopg import sql
from psycopg.rows import dict_row

from absurd_core import engine
from absurd_core.children import DEPTH, ON_PARENT_CANCEL, PARENT, PARENT_QUEUE, ROOT, ChildHandle
from absurd_core.worker.context import build_context
from tests.helpers import raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PARENT_Q = "joinp"
CHILD_Q = "joinc"


@pytest.fixture(autouse=True)
def queues():
    engine.create_queue(PARENT_Q)
    engine.create_queue(CHILD_Q)
    yield
    # The parent's run is left claimed by this test's "worker": leave no external worker.
    engine.drop_queue(PARENT_Q)
    engine.drop_queue(CHILD_Q)


def _spawn(conn, queue, name, headers):
    return str(
        conn.execute(
            "select task_id from absurd.spawn_task(%s, %s, '{}'::jsonb, %s::jsonb)",
            (queue, name, json.dumps({"headers": headers})),
        ).fetchone()[0]
    )


def _claim(conn, queue, task_id):
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "select * from absurd.claim_task(%s, 'join-test', 60, 10) where task_id = %s",
            (queue, task_id),
        )
        return cursor.fetchone()


def _blocked_on_a_lock(conn, pid):
    row = conn.execute(
        "select wait_event_type, state from pg_stat_activity where pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[1] == "active" and row[0] == "Lock"


def _table(prefix, queue):
    return sql.Identifier(f"{prefix}_{queue}")


def test_the_last_child_ending_while_its_parent_suspends_wakes_it_without_a_deadlock():
    observer = raw_connection()
    parent_conn = raw_connection()
    ender = raw_connection()
    try:
        parent = _spawn(observer, PARENT_Q, "ext.parent", {"tenant": "t1"})
        child = _spawn(
            observer,
            CHILD_Q,
            "ext.kid",
            {
                "tenant": "t1",
                PARENT: parent,
                PARENT_QUEUE: PARENT_Q,
                ROOT: parent,
                DEPTH: 1,
                ON_PARENT_CANCEL: "cancel",
            },
        )
        ctx = build_context(parent_conn, PARENT_Q, _claim(parent_conn, PARENT_Q, parent), 60)
        child_run = _claim(observer, CHILD_Q, child)["run_id"]
        parent_run = ctx.run_id

        # The ender has reached the parent: it holds the parent's runs FOR KEY SHARE,
        # as the trigger does before it touches the parent's wait and event.
        ender.autocommit = False
        ender.execute(
            sql.SQL("select 1 from absurd.{} where run_id = %s for key share").format(
                _table("r", PARENT_Q)
            ),
            (parent_run,),
        )

        outcome = {}

        def await_children():
            try:
                outcome["value"] = ctx.await_children([ChildHandle(child, CHILD_Q, "ext.kid")])
            except SuspendTask:
                outcome["value"] = "suspended"
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=await_children)
        thread.start()
        pid = parent_conn.info.backend_pid
        # The parent registered its wait and is suspending: it waits for its run.
        wait_for(lambda: _blocked_on_a_lock(observer, pid) or not thread.is_alive(), timeout=30)
        assert thread.is_alive(), outcome
        try:
            ender.execute(
                "select absurd.complete_run(%s, %s, %s::jsonb)", (CHILD_Q, child_run, "49")
            )
            ender.commit()
        except Exception as exc:
            ender.rollback()
            outcome["ender"] = exc
        thread.join(timeout=60)
        assert not thread.is_alive()

        # Neither side failed, and the parent got its child's result at once: the event
        # was there when its await went on, so it never slept.
        assert "ender" not in outcome, outcome
        assert "error" not in outcome, outcome
        [result] = outcome["value"]
        assert (result.task_id, result.state, result.value) == (child, "completed", 49)
        run_state = observer.execute(
            sql.SQL("select state from absurd.{} where run_id = %s").format(_table("r", PARENT_Q)),
            (parent_run,),
        ).fetchone()[0]
        assert run_state == "running"
        emitted = observer.execute(
            sql.SQL("select count(*) from absurd.{} where payload is not null").format(
                _table("e", PARENT_Q)
            )
        ).fetchone()[0]
        assert emitted == 1
    finally:
        for conn in (ender, parent_conn, observer):
            conn.close()
