"""Lifecycle listeners: fed committed event-log rows in order, at least once, from the present."""

import threading

import pytest

from absurd_core import engine, listeners
from absurd_core.models import ListenerCursor
from tests.helpers import raw_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conn():
    with raw_connection() as connection:
        connection.autocommit = True
        yield connection


def spawn(queue: str, n: int) -> str:
    return str(engine.spawn_task(queue, "job", {"n": n}, headers={"tenant": "acme"}).task_id)


def test_a_new_listener_starts_at_the_present_then_gets_each_event_once(queue_name, conn):
    spawn(queue_name, 0)
    seen = []
    feed = [("test.seen", seen.append)]
    assert listeners.dispatch(conn, feed) == 0  # history before it is not replayed
    ids = [spawn(queue_name, n) for n in range(3)]
    assert listeners.dispatch(conn, feed) == 3
    assert [str(e.task_id) for e in seen] == ids
    assert {e.kind for e in seen} == {"spawned"} and seen[0].queue == queue_name
    assert listeners.dispatch(conn, feed) == 0


def test_an_uncommitted_event_is_not_skipped_when_a_later_one_commits_first(queue_name, conn):
    seen = []
    feed = [("test.order", seen.append)]
    listeners.dispatch(conn, feed)
    with raw_connection() as slow:
        slow.autocommit = False
        slow.execute(  # takes its id now, commits last
            "select absurd.spawn_task(%s, 'slow', '{}'::jsonb, '{}'::jsonb)", (queue_name,)
        )
        spawn(queue_name, 1)
        listeners.dispatch(conn, feed)
        assert seen == []  # the open transaction holds back everything after it
        slow.commit()
    listeners.dispatch(conn, feed)
    assert [e.detail.get("task_name") if e.detail else None for e in seen].count("slow") == 1
    assert len(seen) == 2


@pytest.fixture
def elsewhere():
    """A writing transaction left open in another database of the same server (what a
    second test database, or another application sharing the cluster, does)."""
    with raw_connection("postgres") as other:
        other.autocommit = False
        other.execute("select pg_current_xact_id()")  # takes a transaction id, holds it
        yield other
        other.rollback()


def test_a_transaction_in_another_database_does_not_hold_the_feed_back(queue_name, conn, elsewhere):
    """The server-wide snapshot xmin held every listener and counter back while any
    database on the server had a writing transaction open (the metrics tests failed in CI
    beside the other half's test database). It cannot write our log: it is passed over."""
    seen = []
    feed = [("test.elsewhere", seen.append)]
    listeners.dispatch(conn, feed)
    (foreign,) = elsewhere.execute("select pg_current_xact_id()::text::bigint").fetchone()
    ids = [spawn(queue_name, n) for n in range(2)]
    snapshot_xmin, horizon = conn.execute(
        "select pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"
        " absurd_control.feed_horizon()::text::bigint"
    ).fetchone()
    assert snapshot_xmin <= foreign < horizon  # the server-wide bound would stop here
    assert listeners.dispatch(conn, feed) == 2
    assert [str(e.task_id) for e in seen] == ids
    counted = listeners.count_events((foreign, 0), ["spawned"], limit=100)
    assert (queue_name, "acme", "spawned", 2) in counted.counts


def test_a_writing_transaction_in_this_database_still_holds_the_feed_back(
    queue_name, conn, elsewhere
):
    """Passing over other databases' transactions must not pass over ours: one running
    here (even one that has not written the log yet) bounds the feed, and so does the
    reader's own uncommitted spawn."""
    seen = []
    feed = [("test.here", seen.append)]
    listeners.dispatch(conn, feed)
    with raw_connection() as here:
        here.autocommit = False
        (mine,) = here.execute("select pg_current_xact_id()::text::bigint").fetchone()
        spawn(queue_name, 1)
        assert (
            conn.execute("select absurd_control.feed_horizon()::text::bigint").fetchone()[0] == mine
        )
        assert listeners.dispatch(conn, feed) == 0
        here.execute(  # its own row, written late with a smaller txid
            "select absurd.spawn_task(%s, 'late', '{}'::jsonb, '{}'::jsonb)", (queue_name,)
        )
        here.commit()
    assert listeners.dispatch(conn, feed) == 2
    assert sorted(e.detail.get("task_name") for e in seen) == ["job", "late"]
    with raw_connection() as reader:
        reader.autocommit = False
        reader.execute(
            "select absurd.spawn_task(%s, 'own', '{}'::jsonb, '{}'::jsonb)", (queue_name,)
        )
        (own,) = reader.execute("select pg_current_xact_id()::text::bigint").fetchone()
        bound = reader.execute("select absurd_control.feed_horizon()::text::bigint").fetchone()
        assert bound[0] == own  # its own rows are not final yet
        reader.rollback()


def test_a_failing_listener_retries_then_skips_the_poison_event(queue_name, conn, caplog):
    calls = []

    def flaky(event):
        calls.append(event.id)
        raise ValueError("nope")

    feed = [("test.flaky", flaky)]
    listeners.dispatch(conn, feed)
    spawn(queue_name, 1)
    for attempt in range(1, listeners.MAX_FAILURES):
        assert listeners.dispatch(conn, feed) == 0
        cursor = ListenerCursor.objects.get(listener="test.flaky")
        assert cursor.failures == attempt and "ValueError: nope" in cursor.last_error
    assert listeners.dispatch(conn, feed) == 1  # the fifth failure skips it
    assert len(set(calls)) == 1 and len(calls) == listeners.MAX_FAILURES
    assert "listener.skipped" in caplog.text
    assert ListenerCursor.objects.get(listener="test.flaky").failures == 0


def test_two_workers_never_feed_one_listener_at_once(queue_name, conn):
    seen, inside, overlap = [], threading.Event(), []
    release = threading.Event()

    def slow(event):
        if inside.is_set():
            overlap.append(event.id)
        inside.set()
        release.wait(5)
        seen.append(event.id)

    feed = [("test.single", slow)]
    listeners.dispatch(conn, feed)
    spawn(queue_name, 1)
    first = threading.Thread(target=listeners.dispatch, args=(conn, feed))
    first.start()
    assert inside.wait(5)
    with raw_connection() as other:
        other.autocommit = True
        assert listeners.dispatch(other, feed) == 0  # the advisory lock is held
    release.set()
    first.join(5)
    assert seen and not overlap
