"""A parent cancelled while one of its children ends (issue 17, follow-up).

Both sides by raw SQL, as psql or absurdctl would do it, interleaved deterministically:
the child's ender holds the child's run row (complete_run's first statement), the parent's
canceller then starts its cascade, and only then does the ender finish complete_run. Before
children.sql took its locks in one order, the canceller held the parent's wait row and
waited for the child while the ender held the child and waited for the wait row:
PostgreSQL reported a deadlock and failed one of the two statements.
"""

import json
import threading
import uuid

import pytest
from psycopg import sql

from absurd_core import engine
from absurd_core.children import DEPTH, ON_PARENT_CANCEL, PARENT, PARENT_QUEUE, ROOT
from tests.helpers import raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PARENT_Q = "lockp"
CHILD_Q = "lockc"


@pytest.fixture(autouse=True)
def queues():
    engine.create_queue(PARENT_Q)
    engine.create_queue(CHILD_Q)


def _spawn(conn, queue, name, headers):
    return str(
        conn.execute(
            "select task_id from absurd.spawn_task(%s, %s, '{}'::jsonb, %s::jsonb)",
            (queue, name, json.dumps({"headers": headers})),
        ).fetchone()[0]
    )


def _family(conn, mode, need, n=2):
    """A parent (never claimed) with n children on another queue and a registered wait."""
    parent = _spawn(conn, PARENT_Q, "ext.parent", {"tenant": "t1"})
    kids = [
        _spawn(
            conn,
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
        for _ in range(n)
    ]
    event = f"children:{uuid.uuid4().hex}:{parent}"
    fired = conn.execute(
        "select absurd_control.register_child_wait(%s, %s, %s, %s, %s, %s::jsonb)",
        (
            PARENT_Q,
            parent,
            event,
            mode,
            need,
            json.dumps([{"queue": CHILD_Q, "task_id": k} for k in kids]),
        ),
    ).fetchone()[0]
    assert fired is False
    runs = {
        str(t): r
        for r, t in conn.execute(
            "select run_id, task_id from absurd.claim_task(%s, 'psql', 60, 10)", (CHILD_Q,)
        ).fetchall()
    }
    assert sorted(runs) == sorted(kids)
    return parent, kids, runs, event


def _state(conn, queue, task_id):
    query = sql.SQL("select state from absurd.{} where task_id = %s")
    return conn.execute(query.format(sql.Identifier(f"t_{queue}")), (task_id,)).fetchone()[0]


def _waiting(conn, pid):
    """The canceller's backend is waiting (for a lock, or between tries)."""
    row = conn.execute(
        "select wait_event_type, state from pg_stat_activity where pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[1] == "active" and row[0] in ("Lock", "Timeout")


def _cancel_while_ending(mode, need):
    observer = raw_connection()
    ender = raw_connection()
    canceller = raw_connection()
    try:
        parent, kids, runs, _event = _family(observer, mode, need)
        ending = kids[0]
        errors = []

        ender.autocommit = False
        # What complete_run does first: lock the child's run. The ender now holds the child.
        ender.execute(
            sql.SQL("select 1 from absurd.{} where run_id = %s for update").format(
                sql.Identifier(f"r_{CHILD_Q}")
            ),
            (runs[ending],),
        )

        def cancel():
            try:
                canceller.execute("select absurd.cancel_task(%s, %s)", (PARENT_Q, parent))
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=cancel)
        thread.start()
        pid = canceller.info.backend_pid
        # The cancel is under way: it reached the child the ender holds.
        wait_for(lambda: _waiting(observer, pid) or not thread.is_alive(), timeout=30)
        try:
            ender.execute(
                "select absurd.complete_run(%s, %s, %s::jsonb)",
                (CHILD_Q, runs[ending], '{"done": true}'),
            )
            ender.commit()
        except Exception as exc:
            ender.rollback()
            errors.append(exc)
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert errors == [], errors  # no deadlock, neither statement failed

        # The parent is cancelled, the child that was ending completed (it ended as it
        # ended), the other child followed its parent, and the parent's wait is gone.
        assert _state(observer, PARENT_Q, parent) == "cancelled"
        assert _state(observer, CHILD_Q, ending) == "completed"
        for other in kids[1:]:
            assert _state(observer, CHILD_Q, other) == "cancelled"
        assert (
            observer.execute(
                "select count(*) from absurd_control.child_wait where parent_task_id = %s",
                (parent,),
            ).fetchone()[0]
            == 0
        )
        # The parent's run stayed cancelled: no wake-up reached it.
        parent_runs = sql.SQL("select state from absurd.{} where task_id = %s").format(
            sql.Identifier(f"r_{PARENT_Q}")
        )
        assert observer.execute(parent_runs, (parent,)).fetchall() == [("cancelled",)]
    finally:
        for conn in (ender, canceller, observer):
            conn.close()


def test_a_parent_cancelled_while_a_child_completes_does_not_deadlock():
    """Mode all: the ending child does not complete the condition."""
    _cancel_while_ending("all", 2)


def test_a_parent_cancelled_while_its_waking_child_completes_does_not_deadlock():
    """Mode first: the ending child's completion would fire the wait's event."""
    _cancel_while_ending("first", 1)


def test_the_interleaving_repeated_stays_free_of_deadlocks():
    for _ in range(5):
        _cancel_while_ending("any_n", 1)


def test_a_child_held_by_a_transaction_that_does_not_end_it_is_still_cancelled():
    """A holder that is not ending the child (a heartbeat, a claim) does not wait for the
    parent: the cascade waits for it, then cancels the child. Nothing is skipped."""
    observer = raw_connection()
    holder = raw_connection()
    canceller = raw_connection()
    try:
        parent, kids, runs, _event = _family(observer, "all", 2)
        holder.autocommit = False
        holder.execute(  # what a heartbeat does: update the child's run
            sql.SQL(
                "update absurd.{} set claim_expires_at = claim_expires_at where run_id = %s"
            ).format(sql.Identifier(f"r_{CHILD_Q}")),
            (runs[kids[0]],),
        )
        errors = []

        def cancel():
            try:
                canceller.execute("select absurd.cancel_task(%s, %s)", (PARENT_Q, parent))
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=cancel)
        thread.start()
        pid = canceller.info.backend_pid
        wait_for(lambda: _waiting(observer, pid), timeout=30)
        assert thread.is_alive()  # it waits for the holder instead of skipping the child
        holder.commit()
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert errors == []
        assert _state(observer, PARENT_Q, parent) == "cancelled"
        assert [_state(observer, CHILD_Q, k) for k in kids] == ["cancelled", "cancelled"]
    finally:
        for conn in (holder, canceller, observer):
            conn.close()
