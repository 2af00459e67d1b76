"""Schedules ticked by real runworker subprocesses: exactly once per slot with two workers,
nothing lost or doubled when one is killed mid-tick, and a new schedule wakes a sleeping
ticker at once (NOTIFY), with no polling.

Workers get their clock through PGOPTIONS (``-c absurd.fake_now=...``): every connection
they open reads that time from ``absurd.current_time()``.
"""

import signal
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from absurd_core import engine
from absurd_core.actions.schedules import create_schedule, pause_schedule
from absurd_core.models import Schedule
from absurd_core.tenancy import TenantScope
from tenants.models import RateLimitPolicy, Tenant
from tenants.permissions import Principal
from tests.helpers import WorkerProcess, raw_connection, subprocess_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2030, 1, 7, 12, 0, 0, tzinfo=UTC)
# The workers serve another queue: the spawned demo tasks stay pending, so the test
# measures the ticking alone.
ARGS = ("--queue", "testq", "--poll-interval", "0.2", "--concurrency", "1")


def fake_env(moment: datetime) -> dict:
    return subprocess_env(PGOPTIONS=f"-c absurd.fake_now={moment.isoformat()}")


@pytest.fixture
def queues():
    for queue in ("demo", "testq"):
        if engine.queue_exists(queue):
            engine.drop_queue(queue)
        engine.create_queue(queue)
    acme = Tenant.objects.create(slug="acme", name="Acme")
    # Hundreds of slots at once: over the default spawn rate (refusals have a test of their
    # own, tests/core/test_schedules.py).
    RateLimitPolicy.objects.create(tenant=acme, spawn_rate=100_000, spawn_burst=100_000)


def missed(count: int, slots: int) -> list[Schedule]:
    """``count`` every-minute schedules, each with ``slots`` slots due at NOW."""
    first = NOW - timedelta(minutes=slots - 1)
    return [
        Schedule.objects.create(
            tenant="acme",
            name=f"s{i}",
            task_name="demo.two_steps",
            queue="demo",
            every_seconds=60,
            catch_up="all",
            catch_up_cap=1000,
            next_fire_at=first,
            due_at=first,
        )
        for i in range(count)
    ]


def fired() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "select headers->>'absurd_control.schedule', headers->>'absurd_control.slot'"
            " from absurd.t_demo where headers ? 'absurd_control.schedule'"
        )
        return cursor.fetchall()


def expected(schedules, slots) -> set[tuple[str, str]]:
    return {
        (str(s.id), (NOW - timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for s in schedules
        for k in range(slots)
    }


def test_two_workers_fire_each_slot_exactly_once(queues):
    schedules = missed(12, 40)
    want = expected(schedules, 40)
    with (
        WorkerProcess(*ARGS, "--worker-id", "w1", env=fake_env(NOW)) as w1,
        WorkerProcess(*ARGS, "--worker-id", "w2", env=fake_env(NOW)) as w2,
    ):
        wait_for(lambda: len(fired()) >= len(want), timeout=90)
        # Both settled: every schedule advanced past NOW.
        wait_for(lambda: not Schedule.objects.filter(next_fire_at__lte=NOW).exists(), timeout=30)
    rows = fired()
    assert len(rows) == len(want)  # no slot twice
    assert set(rows) == want  # and none missing
    assert sum(Schedule.objects.values_list("fires", flat=True)) == len(want)
    # Fired by the workers' tickers, not by this test.
    assert "schedule.fired" in w1.output + w2.output


def test_kill_9_mid_tick_loses_no_slot_and_doubles_none(queues):
    schedules = missed(3, 5)
    want = expected(schedules, 5)
    blocker = raw_connection()
    try:
        # Hold the task table: the first worker's tick blocks inside its first spawn, with
        # the schedules locked and nothing committed.
        blocker.execute("begin")
        blocker.execute("lock table absurd.t_demo in exclusive mode")
        first = WorkerProcess(*ARGS, "--worker-id", "doomed", env=fake_env(NOW))
        with first:
            waiting = wait_for(
                lambda: blocker.execute(
                    "select pid from pg_locks where not granted"
                    " and relation = 'absurd.t_demo'::regclass"
                    " and database = (select oid from pg_database"
                    " where datname = current_database())"
                ).fetchone(),
                timeout=60,
            )[0]
            first.stop(signal.SIGKILL)
        blocker.execute("commit")
        # The killed worker's session ends without committing its tick.
        wait_for(
            lambda: (
                not blocker.execute(
                    "select 1 from pg_stat_activity where pid = %s", [waiting]
                ).fetchone()
            ),
            timeout=30,
        )
    finally:
        blocker.close()
    assert fired() == []
    assert set(Schedule.objects.values_list("fires", flat=True)) == {0}
    with WorkerProcess(*ARGS, "--worker-id", "survivor", env=fake_env(NOW)):
        wait_for(lambda: len(fired()) >= len(want), timeout=60)
        wait_for(lambda: not Schedule.objects.filter(next_fire_at__lte=NOW).exists(), timeout=30)
    rows = fired()
    assert len(rows) == len(want) and set(rows) == want


def test_a_new_schedule_wakes_a_sleeping_ticker_at_once(queues):
    ops = Principal(scope=TenantScope("acme"), role="operator", label="user:test")
    with WorkerProcess(*ARGS, "--worker-id", "sleeper") as worker:
        # No schedule exists: the ticker sleeps its longest (60 s) until told otherwise.
        wait_for(lambda: "worker.start" in worker.output, timeout=30)
        schedule = create_schedule(ops, name="soon", task="demo.two_steps", every_seconds=2)
        # Fired within a few seconds of its slot: the NOTIFY woke the ticker, which then
        # slept until the slot (no 60 s wait, no polling).
        wait_for(lambda: fired(), timeout=15)
        pause_schedule(ops, schedule.id)
    assert fired()[0][0] == str(schedule.id)
