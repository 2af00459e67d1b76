"""The worker's housekeeping creates the coming weeks of every partitioned queue, as
pg_cron would upstream (absurd_core/worker/partition_upkeep.py): without it, a
partitioned queue's rows would all land in its default partition once the weeks made at
creation had passed."""

from __future__ import annotations

import threading

import pytest

from absurd_core import engine
from absurd_core.worker.housekeeping import Housekeeping
from absurd_core.worker.partition_upkeep import LOCK, PartitionUpkeep
from tests.helpers import raw_connection

pytestmark = pytest.mark.django_db(transaction=True)

PQ = "upkeepq"


@pytest.fixture
def pq():
    engine.drop_queue(PQ)
    with raw_connection() as conn:
        conn.execute("select absurd.create_queue(%s, 'partitioned')", (PQ,))
    yield PQ
    engine.drop_queue(PQ)


def _weeks(conn) -> set[str]:
    rows = conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = %s::regclass",
        (f"absurd.t_{PQ}",),
    ).fetchall()
    return {name for (name,) in rows if not name.endswith("_d")}


def _weeks_later(conn, weeks: int) -> None:
    conn.execute(
        "select set_config('absurd.fake_now', (now() + make_interval(weeks => %s))::text, false)",
        (weeks,),
    )


def test_the_weeks_ahead_are_created_when_due_and_not_before(pq):
    with raw_connection() as conn:
        made_at_creation = _weeks(conn)
        assert made_at_creation
        _weeks_later(conn, 10)  # every week made at creation is behind us now
        upkeep = PartitionUpkeep(every=3600)
        assert upkeep.maybe_ensure(conn) is True
        later = _weeks(conn)
        assert len(later - made_at_creation) >= 2, (made_at_creation, later)
        # Not due again within the hour: nothing is even asked.
        _weeks_later(conn, 20)
        assert upkeep.maybe_ensure(conn) is None
        assert _weeks(conn) == later


def test_one_worker_at_a_time_the_others_skip(pq):
    with raw_connection() as holder, raw_connection() as conn, holder.transaction():
        assert holder.execute(LOCK).fetchone()[0]
        _weeks_later(conn, 10)
        before = _weeks(conn)
        assert PartitionUpkeep().maybe_ensure(conn) is False
        assert _weeks(conn) == before


def test_the_housekeeping_beat_runs_it(pq, settings):
    beat = Housekeeping(
        worker_id="upkeep-test",
        queues=["default"],
        concurrency=1,
        counters=lambda: (0, 0, 0),
        done=threading.Event(),
    )
    calls = []
    beat._partitions.maybe_ensure = lambda conn: calls.append(conn) or True
    try:
        beat.beat()
    finally:
        beat.close()
    assert len(calls) == 1
