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
