"""A wait's count spread over shards (issue 17, follow-up): exactly one event, none missed.

Children are ended by raw SQL (complete_run, fail_run), from several connections at
once, as several worker threads or foreign workers would; the parent is never claimed,
so what is observed is the wait row (fired_at) and the parent queue's event table.
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

PARENT_Q = "shardp"
CHILD_Q = "shardc"
THREADS = 6


@pytest.fixture(autouse=True)
def queues():
    engine.create_queue(PARENT_Q)
    engine.create_queue(CHILD_Q)


def _family(conn, n, mode, need):
    parent = str(
        conn.execute(
            "select task_id from absurd.spawn_task(%s, 'ext.parent', '{}'::jsonb, %s::jsonb)",
            (PARENT_Q, json.dumps({"headers": {"tenant": "t1"}})),
        ).fetchone()[0]
    )
    # No tenant: the tenants' concurrency limit (50 running) is not what this exercises.
    headers = {
        PARENT: parent,
        PARENT_QUEUE: PARENT_Q,
        ROOT: parent,
        DEPTH: 1,
        ON_PARENT_CANCEL: "cancel",
    }
    kids = [
        str(r[0])
        for r in conn.execute(
            "select s.task_id from generate_series(1, %s) g, lateral absurd.spawn_task("
            "%s, 'ext.kid', jsonb_build_object('i', g), %s::jsonb) s",
            (n, CHILD_Q, json.dumps({"headers": headers})),
        ).fetchall()
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
    runs = {}
    while len(runs) < n:
        rows = conn.execute(
            "select run_id, task_id from absurd.claim_task(%s, 'psql', 300, 100)", (CHILD_Q,)
        ).fetchall()
        assert rows
        runs.update({str(t): r for r, t in rows})
    return parent, kids, runs, event


def _end(conn, run_id, fail=False):
    if fail:
        conn.execute(
            "select absurd.fail_run(%s, %s, %s::jsonb, null)",
            (CHILD_Q, run_id, '{"name": "RawError", "message": "no"}'),
        )
    else:
        conn.execute("select absurd.complete_run(%s, %s, 'true'::jsonb)", (CHILD_Q, run_id))


def _end_concurrently(runs_to_end, fail=()):
    """End these runs from THREADS connections at once, each end its own transaction."""
    barrier = threading.Barrier(THREADS)
    errors = []
    slices = [runs_to_end[i::THREADS] for i in range(THREADS)]

    def work(part):
        with raw_connection() as conn:
            barrier.wait()
            try:
                for run_id in part:
                    _end(conn, run_id, fail=run_id in fail)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(part,)) for part in slices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


def _fired(conn, parent, event):
    row = conn.execute(
        "select fired_at is not null, done from absurd_control.child_wait"
        " where parent_task_id = %s and event_name = %s",
        (parent, event),
    ).fetchone()
    events = conn.execute(
        sql.SQL("select payload from absurd.{} where event_name = %s").format(
            sql.Identifier(f"e_{PARENT_Q}")
        ),
        (event,),
    ).fetchall()
    return row, [e[0] for e in events]


@pytest.mark.parametrize("rounds", [3])
def test_all_fires_once_when_the_last_child_ends_never_before(rounds):
    with raw_connection() as conn:
        for _ in range(rounds):
            parent, kids, runs, event = _family(conn, 48, "all", 48)
            assert conn.execute(
                "select shards from absurd_control.child_wait where event_name = %s", (event,)
            ).fetchone() == (8,)
            *most, last = kids
            _end_concurrently([runs[k] for k in most])
            (fired, done), events = _fired(conn, parent, event)
            assert (fired, events) == (False, [])  # 47 of 48: not yet
            _end(conn, runs[last])
            (fired, done), events = _fired(conn, parent, event)
            assert fired and done == 48
            assert len(events) == 1
            assert events[0] == {"child": last, "state": "completed"}


def test_all_ended_at_once_fires_exactly_once():
    with raw_connection() as conn:
        for _ in range(3):
            parent, kids, runs, event = _family(conn, 40, "all", 40)
            _end_concurrently([runs[k] for k in kids])
            (fired, done), events = _fired(conn, parent, event)
            assert fired and done == 40
            assert len(events) == 1


@pytest.mark.parametrize(("mode", "need"), [("first", 1), ("any_n", 17)])
def test_first_and_any_n_fire_once_at_their_count(mode, need):
    with raw_connection() as conn:
        parent, kids, runs, event = _family(conn, 40, mode, need)
        _end_concurrently([runs[k] for k in kids[: need - 1]])
        assert _fired(conn, parent, event) == ((False, 0), [])
        _end_concurrently([runs[k] for k in kids[need - 1 :]])
        (fired, done), events = _fired(conn, parent, event)
        assert fired and need <= done <= 40
        assert len(events) == 1


def test_a_failure_among_concurrent_ends_fires_once():
    with raw_connection() as conn:
        parent, kids, runs, event = _family(conn, 40, "all", 40)
        failing = runs[kids[7]]
        conn.execute(
            sql.SQL("update absurd.{} set max_attempts = 1 where task_id = %s").format(
                sql.Identifier(f"t_{CHILD_Q}")
            ),
            (kids[7],),
        )
        _end_concurrently([runs[k] for k in kids[:20]], fail={failing})
        (fired, _done), events = _fired(conn, parent, event)
        assert fired
        assert events == [{"child": kids[7], "state": "failed"}]
        _end_concurrently([runs[k] for k in kids[20:]])
        assert len(_fired(conn, parent, event)[1]) == 1  # still one event


def test_two_shards_filled_at_once_the_second_sees_the_first_after_the_head_lock():
    """Deterministic: the last child of shard A holds the head (its sum saw shard B not
    full); the last child of shard B then waits for the head, and once A commits, its
    new statement sees A's count: it fires. Exactly one event, none missed."""
    observer = raw_connection()
    first = raw_connection()
    second = raw_connection()
    try:
        parent, kids, runs, event = _family(observer, 16, "all", 16)
        shard = dict(
            observer.execute(
                "select c::text, absurd_control.child_shard(c, 8) from unnest(%s::uuid[]) c",
                (kids,),
            ).fetchall()
        )
        last_of = {}
        for kid in kids:
            last_of[shard[kid]] = kid  # the last child of each shard, in order
        (shard_a, a), (shard_b, b) = list(last_of.items())[:2]
        assert shard_a != shard_b
        _end_concurrently([runs[k] for k in kids if k not in (a, b)])

        first.autocommit = False
        _end(first, runs[a])  # fills shard A, takes the head, sums: B not full
        errors = []

        def end_b():
            try:
                _end(second, runs[b])
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=end_b)
        thread.start()
        pid = second.info.backend_pid
        wait_for(
            lambda: observer.execute(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)
            ).fetchone()[0],
            timeout=30,
        )
        assert _fired(observer, parent, event) == ((False, 0), [])
        first.commit()
        thread.join(timeout=60)
        assert errors == []
        (fired, done), events = _fired(observer, parent, event)
        assert fired and done == 16
        assert events == [{"child": b, "state": "completed"}]
    finally:
        for conn in (first, second, observer):
            conn.close()
