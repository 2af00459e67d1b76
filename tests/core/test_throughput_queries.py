"""The overview chart's aggregates and reads (absurd_core/sql/throughput.sql,
absurd_core/queries/throughput.py), driven through the engine's own functions at
known times (the engine's fake now), against PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from absurd_core import spawn
from absurd_core.errors import InvalidArgument
from absurd_core.models import RunDurationBucket, ThroughputBucket
from absurd_core.queries import throughput
from absurd_core.tenancy import ALL_TENANTS, TenantScope

pytestmark = pytest.mark.django_db

ALL = TenantScope(ALL_TENANTS)
ACME = TenantScope("acme")
T0 = datetime(2030, 3, 4, 10, 0, 0, tzinfo=UTC)


def _at(moment: datetime | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "select set_config('absurd.fake_now', %s, false)",
            [moment.isoformat() if moment else ""],
        )


@pytest.fixture(autouse=True)
def _real_time_after():
    yield
    _at(None)


def _claim(queue: str, task_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute("select run_id, task_id from absurd.claim_task(%s, 'w1', 600, 10)", [queue])
        runs = {str(t): r for r, t in cursor.fetchall()}
    return runs[str(task_id)]


def _run(queue, name, *, tenant="acme", start, seconds, outcome="complete", attempts=1):
    """Spawn at ``start``, claim at ``start``, end ``seconds`` later: complete, or fail."""
    _at(start)
    task_id = spawn(name, {}, tenant=tenant, queue=queue, max_attempts=attempts).task_id
    run_id = _claim(queue, task_id)
    _at(start + timedelta(seconds=seconds))
    with connection.cursor() as cursor:
        if outcome == "complete":
            cursor.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [queue, run_id])
        else:
            cursor.execute(
                'select absurd.fail_run(%s, %s, \'{"name": "E", "message": "x"}\'::jsonb)',
                [queue, run_id],
            )
    return task_id


def test_counts_per_minute_bucket_at_known_times(queue_name):
    q = queue_name
    _run(q, "t.a", start=T0 + timedelta(minutes=1, seconds=5), seconds=2)
    _run(q, "t.a", start=T0 + timedelta(minutes=1, seconds=30), seconds=20)  # ends minute 1
    _run(q, "t.a", start=T0 + timedelta(minutes=3), seconds=1, outcome="fail")  # failed for good
    # Fails with a retry left: one retried (minute 4), then its next run completes (minute 5).
    task = _run(q, "t.b", start=T0 + timedelta(minutes=4), seconds=1, outcome="fail", attempts=2)
    _at(T0 + timedelta(minutes=5))
    run = _claim(q, task)
    with connection.cursor() as cursor:
        cursor.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [q, run])
    _run(q, "t.a", tenant="globex", start=T0 + timedelta(minutes=2), seconds=3)

    now = T0 + timedelta(minutes=5, seconds=40)
    chart = throughput.chart_range("1h")
    series = throughput.throughput_series(ALL, chart, queue=q, now=now)
    assert len(series.starts) == 60 and series.starts[-1] == T0 + timedelta(minutes=5)
    tail = slice(54, 60)  # T0 .. T0+5 min
    assert series.completed[tail] == [0, 2, 1, 0, 0, 1]
    assert series.failed[tail] == [0, 0, 0, 1, 0, 0]
    assert series.retried[tail] == [0, 0, 0, 0, 1, 0]
    assert series.totals == {"completed": 4, "failed": 1, "retried": 1}

    acme = throughput.throughput_series(ACME, chart, queue=q, now=now)
    assert acme.completed[tail] == [0, 2, 0, 0, 0, 1]
    nobody = throughput.throughput_series(TenantScope("initech"), chart, queue=q, now=now)
    assert nobody.totals == {"completed": 0, "failed": 0, "retried": 0}

    # 24 h: five-minute points; T0..T0+4 in one, T0+5 in the next.
    day = throughput.throughput_series(ALL, throughput.chart_range("24h"), queue=q, now=now)
    assert len(day.starts) == 288 and day.completed[-2:] == [3, 1]
    # 7 d: hours (the hour buckets, written alongside the minutes).
    week = throughput.throughput_series(ALL, throughput.chart_range("7d"), queue=q, now=now)
    assert len(week.starts) == 168 and week.completed[-1] == 4 and week.failed[-1] == 1
    # Minute and hour rows both exist, keyed by tenant.
    assert set(
        ThroughputBucket.objects.filter(queue=q).values_list("span", "tenant").distinct()
    ) == {(1, "acme"), (60, "acme"), (1, "globex"), (60, "globex")}


def test_duration_percentiles_per_task_name(queue_name):
    q = queue_name
    for i in range(100):  # 1 s .. 100 s, one run each
        _run(q, "t.slow", start=T0 + timedelta(seconds=i), seconds=i + 1)
    _run(q, "t.fast", start=T0, seconds=0.2)
    now = T0 + timedelta(minutes=10)
    rows = throughput.duration_percentiles(ALL, throughput.chart_range("1h"), queue=q, now=now)
    assert [r.task_name for r in rows] == ["t.slow", "t.fast"]
    slow, fast = rows
    assert slow.runs == 100 and fast.runs == 1
    # Within the histogram's 9% of the exact percentiles (50 s, 95 s, 99 s).
    assert slow.p50 == pytest.approx(50, rel=0.1)
    assert slow.p95 == pytest.approx(95, rel=0.1)
    assert slow.p99 == pytest.approx(99, rel=0.1)
    assert fast.p50 == pytest.approx(0.2, rel=0.1)
    # Tenant-scoped; the 7-day range reads hours and agrees.
    assert (
        throughput.duration_percentiles(
            TenantScope("globex"), throughput.chart_range("1h"), now=now
        )
        == []
    )
    week = throughput.duration_percentiles(ALL, throughput.chart_range("7d"), queue=q, now=now)
    assert [(r.task_name, r.runs) for r in week] == [("t.slow", 100), ("t.fast", 1)]


def test_unknown_range_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="Unknown range '2h': use one of 1h, 24h, 7d"):
        throughput.chart_range("2h")
    assert throughput.chart_range(None).name == "1h"


def test_events_logged_without_a_queue_table_are_counted_without_durations():
    """Rows a bulk loader writes into the log for a queue that has no tables are counted
    by the rebuild, without durations, and never make it fail."""
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into absurd_control_task_event (tenant, queue, kind, to_state, run_id,"
            " task_id, created_at) values ('acme', 'no_such_queue', 'completed', 'completed',"
            " gen_random_uuid(), gen_random_uuid(), %s)",
            [T0],
        )
        assert not ThroughputBucket.objects.filter(queue="no_such_queue").exists()
        cursor.execute("select absurd_control.rebuild_throughput()")
    assert ThroughputBucket.objects.get(queue="no_such_queue", span=1).completed == 1
    assert not RunDurationBucket.objects.filter(queue="no_such_queue").exists()


def test_rebuild_matches_what_the_trigger_counted(queue_name):
    q = queue_name
    _run(q, "t.a", start=T0, seconds=2)
    _run(q, "t.a", start=T0 + timedelta(minutes=2), seconds=1, outcome="fail")

    def snapshot():
        return (
            sorted(
                ThroughputBucket.objects.filter(queue=q).values_list(
                    "span", "bucket", "tenant", "completed", "failed", "retried"
                )
            ),
            sorted(
                RunDurationBucket.objects.filter(queue=q).values_list(
                    "span", "bucket", "tenant", "task_name", "bin", "runs"
                )
            ),
        )

    before = snapshot()
    assert before[0] and before[1]
    with connection.cursor() as cursor:
        cursor.execute("select absurd_control.rebuild_throughput()")
    assert snapshot() == before


def test_prune_drops_only_what_no_chart_reads(queue_name):
    _run(queue_name, "t.a", start=T0, seconds=1)
    with connection.cursor() as cursor:
        cursor.execute("select absurd_control.prune_throughput(%s)", [T0 + timedelta(days=3)])
        assert cursor.fetchone()[0] == 2  # the minute rows (counts and durations)
    assert set(
        ThroughputBucket.objects.filter(queue=queue_name).values_list("span", flat=True)
    ) == {60}
    with connection.cursor() as cursor:
        cursor.execute("select absurd_control.prune_throughput(%s)", [T0 + timedelta(days=9)])
    assert not ThroughputBucket.objects.filter(queue=queue_name).exists()


def test_the_workers_housekeeping_prunes_at_most_every_interval(queue_name):
    from absurd_core.worker.throughput_retention import ThroughputRetention

    _run(queue_name, "t.a", start=T0, seconds=1)  # in 2030: nothing to prune yet
    _run(queue_name, "t.a", start=datetime(2020, 1, 1, tzinfo=UTC), seconds=1)  # long gone
    _at(None)  # pruning goes by the engine's clock: now
    connection.ensure_connection()
    retention = ThroughputRetention(every=3600)
    assert retention.maybe_prune(connection.connection) == 4  # minute and hour rows of 2020
    assert retention.maybe_prune(connection.connection) is None  # not due again yet
    assert ThroughputBucket.objects.filter(queue=queue_name, bucket__year=2020).count() == 0
    assert ThroughputBucket.objects.filter(queue=queue_name, bucket__year=2030).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_completions_in_one_bucket_do_not_wait_on_each_other():
    """Two clients finish tasks of the same queue and tenant in the same minute, the first
    still in its transaction: the second commits at once (each connection counts into
    rows of its own), and the chart adds both up."""
    from absurd_core import engine
    from tests.helpers import raw_connection

    queue = "q_chart_concurrency"
    engine.create_queue(queue)
    try:
        for _ in range(2):
            spawn("t.c", {}, tenant="acme", queue=queue)
        first, second = raw_connection(), raw_connection()
        try:
            runs = {}
            for conn in (first, second):
                row = conn.execute(
                    "select run_id from absurd.claim_task(%s, 'w', 60, 1)", [queue]
                ).fetchone()
                runs[conn] = row[0]
            first.execute("begin")
            first.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [queue, runs[first]])
            # The first holds its rows until commit; the second must not need them.
            second.execute("set lock_timeout = '2s'")
            second.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [queue, runs[second]])
            first.execute("commit")
        finally:
            first.close()
            second.close()
        series = throughput.throughput_series(ACME, throughput.chart_range("1h"), queue=queue)
        assert series.totals["completed"] == 2
        writers = ThroughputBucket.objects.filter(queue=queue, span=1).values_list(
            "writer", flat=True
        )
        assert len(set(writers)) == 2
    finally:
        engine.drop_queue(queue)


def test_a_completed_row_carries_its_working_time_and_is_counted_at_once(queue_name):
    """The lifecycle trigger counts a completion as it logs it, with the run's working time
    (issue 20, item 4: no statement trigger on the event log any more)."""
    from absurd_core.models import TaskEvent

    task = _run(queue_name, "t.timed", start=T0, seconds=2.5)
    (completed,) = TaskEvent.objects.filter(task_id=task, kind="completed")
    assert completed.detail == {"ran_s": 2.5}
    (bucket,) = RunDurationBucket.objects.filter(queue=queue_name, span=1)
    assert (bucket.task_name, bucket.runs) == ("t.timed", 1)
    with connection.cursor() as cursor:
        cursor.execute("select absurd_control.duration_bin(2.5)")
        assert bucket.bin == cursor.fetchone()[0]
        cursor.execute(
            "select count(*) from pg_trigger"
            " where tgrelid = 'absurd_control_task_event'::regclass and not tgisinternal"
        )
        assert cursor.fetchone()[0] == 0
