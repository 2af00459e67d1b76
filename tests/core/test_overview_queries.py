"""The overview's query functions (exact counts, estimates above the limit, throughput
buckets, totals) and the runs list's search by task or run id, on small real data."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.models import DeadLetter, TaskEvent, Worker
from absurd_core.queries import queues as overview
from absurd_core.queries.task_list import TaskFilter, list_tasks
from absurd_core.tenancy import ALL_TENANTS, TenantScope

pytestmark = pytest.mark.django_db

ALL = TenantScope(ALL_TENANTS)
ACME = TenantScope("acme")


@pytest.fixture
def queue(queue_name):
    for i in range(5):
        spawn("test.overview", {"i": i}, tenant="acme", queue=queue_name)
    for i in range(2):
        spawn("test.overview", {"i": i}, tenant="globex", queue=queue_name)
    return queue_name


def _stats(scope, queue, **kwargs):
    (stats,) = [s for s in overview.overview_stats(scope, **kwargs) if s.name == queue]
    return stats


def _analyze(queue):
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("analyze absurd.{}").format(sql.Identifier(f"t_{queue}")))


def test_small_counts_are_exact(queue):
    stats = _stats(ALL, queue)
    assert stats.counts["pending"] == 7
    assert stats.counts["completed"] == 0
    assert set(stats.counts) == set(engine.TASK_STATES)
    assert stats.total == 7
    assert not stats.estimated
    assert stats.oldest_pending_at is not None
    assert not stats.paused


def test_tenant_counts_only_their_tasks(queue):
    assert _stats(ACME, queue).counts["pending"] == 5
    assert _stats(TenantScope("globex"), queue).counts["pending"] == 2
    assert _stats(TenantScope("initech"), queue).counts["pending"] == 0
    assert _stats(TenantScope("initech"), queue).oldest_pending_at is None


def test_counts_above_the_limit_are_estimates_never_below_it(queue):
    _analyze(queue)
    stats = _stats(ALL, queue, exact_limit=3)
    assert stats.estimated
    # The planner's estimate after ANALYZE of a 7-row table: the row count itself,
    # and never less than the limit the exact count already passed.
    assert 4 <= stats.counts["pending"] <= 14
    assert stats.counts["running"] == 0  # under the limit: still exact


def test_planner_settings_are_put_back(queue):
    # pytest-django runs the test in a transaction, as ATOMIC_REQUESTS would a view.
    overview.overview_stats(ALL)
    with connection.cursor() as cursor:
        cursor.execute(
            "select current_setting('enable_seqscan'), current_setting('enable_bitmapscan')"
        )
        assert cursor.fetchone() == ("on", "on")


def test_a_count_at_the_limit_is_exact(queue):
    stats = _stats(ACME, queue, exact_limit=5)
    assert stats.counts["pending"] == 5
    assert not stats.estimated


def test_exact_limit_zero_estimates_every_nonzero_count(queue):
    _analyze(queue)
    stats = _stats(TenantScope("globex"), queue, exact_limit=0)
    assert stats.estimated
    assert stats.counts["pending"] >= 1
    assert stats.counts["failed"] == 0


def _event(queue, kind, at, tenant="acme"):
    TaskEvent.objects.create(queue=queue, kind=kind, to_state=kind, tenant=tenant, created_at=at)


def test_throughput_counts_per_minute_oldest_first(queue):
    now = datetime(2026, 1, 1, 12, 30, 20, tzinfo=UTC)
    _event(queue, "completed", now - timedelta(seconds=10))  # this minute: the last bucket
    _event(queue, "completed", now - timedelta(seconds=15))
    _event(queue, "failed", now - timedelta(minutes=2))
    _event(queue, "completed", now - timedelta(minutes=4), tenant="globex")
    _event(queue, "completed", now - timedelta(minutes=10))  # outside the 5-minute window
    _event(queue, "claimed", now - timedelta(seconds=5))  # not a finish
    series = overview.throughput(ALL, minutes=5, now=now)[queue]
    assert series == {"completed": [1, 0, 0, 0, 2], "failed": [0, 0, 1, 0, 0]}
    acme = overview.throughput(ACME, minutes=5, now=now)[queue]
    assert acme == {"completed": [0, 0, 0, 0, 2], "failed": [0, 0, 1, 0, 0]}
    assert queue not in overview.throughput(TenantScope("initech"), minutes=5, now=now)


def test_throughput_is_served_by_the_partial_index(queue):
    with connection.cursor() as cursor:
        cursor.execute("select indexdef from pg_indexes where indexname = 'task_event_finished'")
        (definition,) = cursor.fetchone()
    assert "created_at" in definition and "completed" in definition


def test_totals(queue):
    task_id = list_tasks(ACME, TaskFilter(queues=(queue,))).items[0].task_id
    DeadLetter.objects.create(
        tenant="acme", queue=queue, task_id=task_id, task_name="demo.two_steps", attempts=1
    )
    DeadLetter.objects.create(
        tenant="globex", queue=queue, task_id=task_id, task_name="x", attempts=1, state="retried"
    )
    now = datetime.now(UTC)
    Worker.objects.create(
        worker_id="w1", host="h", pid=1, concurrency=1, started_at=now, last_seen=now
    )
    assert overview.totals(ACME) == overview.Totals(1, 1, 0)
    assert overview.totals(TenantScope("globex")).open_dead_letters == 0
    assert overview.totals(ALL).open_dead_letters == 1


def test_search_by_task_id_or_run_id(queue):
    result = spawn("test.overview", {"i": 99}, tenant="acme", queue=queue)
    for term in (result.task_id, result.run_id):
        page = list_tasks(ACME, TaskFilter(search=str(term)))
        assert [row.task_id for row in page.items] == [result.task_id]
    assert list_tasks(TenantScope("globex"), TaskFilter(search=str(result.task_id))).items == []


def test_queues_get_the_task_name_index(queue):
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from pg_index where indrelid = %s::regclass"
            " and indexrelid::regclass::text like 'absurd.ac_name_%%'",
            [f'absurd."t_{queue}"'],
        )
        assert cursor.fetchone()[0] == 1
