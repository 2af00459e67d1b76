"""Concurrency limits with real workers: the limit holds across processes, and a
tenant flooding the queues does not starve another (docs/tenants.md)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from absurd_core import engine
from tenants.models import RateLimitPolicy, Tenant
from tests.helpers import WorkerProcess, raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "fairq"
FAST = ("--queue", QUEUE, "--poll-interval", "0.05", "--concurrency", "4")


@pytest.fixture
def fairq(side_effects, no_slots):
    engine.create_queue(QUEUE)
    yield side_effects
    engine.drop_queue(QUEUE)


def spawn_many(tenant: str, count: int, seconds: float) -> None:
    """Spawn ``count`` tasks in one statement, as a bulk import would."""
    options = json.dumps({"headers": {"tenant": tenant}, "max_attempts": 1})
    with raw_connection() as conn:
        conn.execute(
            "select absurd.spawn_task(%s, 'test.timed_work',"
            " jsonb_build_object('seconds', %s::float8), %s::jsonb) from generate_series(1, %s)",
            (QUEUE, seconds, options, count),
        )


def count_tasks(tenant: str, states: tuple[str, ...]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd.t_fairq where headers->>'tenant' = %s and state = any(%s)",
            [tenant, list(states)],
        )
        return cursor.fetchone()[0]


def max_overlap() -> int:
    """The most task bodies that were executing at the same moment."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select max(n) from (select sum(case step when 'start' then 1 else -1 end)"
            " over (order by at, step desc) as n from test_side_effects) s"
        )
        return cursor.fetchone()[0]


def test_the_limit_holds_across_workers_and_no_attempt_is_used(fairq):
    RateLimitPolicy.objects.create(
        tenant=Tenant.objects.create(slug="acme", name="Acme"), max_running=2
    )
    spawn_many("acme", 12, 0.15)
    with WorkerProcess(*FAST, "--worker-id", "w1"), WorkerProcess(*FAST, "--worker-id", "w2"):
        wait_for(lambda: count_tasks("acme", ("completed",)) == 12, timeout=60)
    assert max_overlap() == 2  # eight threads, two slots, and both slots used
    with connection.cursor() as cursor:
        cursor.execute("select max(attempts), count(distinct task_id) from absurd.t_fairq")
        assert cursor.fetchone() == (1, 12)
        cursor.execute("select count(*) from absurd_control.running_slot")
        assert cursor.fetchone()[0] == 0


def test_a_flooding_tenant_does_not_starve_another(fairq):
    """A floods 10,000 tasks, then B spawns 100: B finishes while A still drains."""
    RateLimitPolicy.objects.create(
        tenant=Tenant.objects.create(slug="flood", name="Flood"), max_running=2
    )
    Tenant.objects.create(slug="small", name="Small")
    spawn_many("flood", 10_000, 0.02)
    spawn_many("small", 100, 0.02)
    with WorkerProcess(*FAST):
        wait_for(lambda: count_tasks("small", ("completed",)) == 100, timeout=120)
        unfinished = count_tasks("flood", ("pending", "sleeping", "running"))
    assert unfinished > 5_000, unfinished
    # Parked runs were never failed or charged an attempt.
    assert count_tasks("flood", ("failed", "cancelled")) == 0
