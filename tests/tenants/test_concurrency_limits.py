"""Tenant concurrency limits, applied by the claim statement itself.

These drive the worker's CLAIM_SQL and raw absurd.* calls on plain
connections, so they test the SQL that every worker runs, whatever path then
moves the run on.
"""

from __future__ import annotations

import json
import random
import string
import threading

import pytest
from psycopg.rows import dict_row

from absurd_core import engine
from absurd_core.models import TaskEvent
from absurd_core.worker.runner import CLAIM_SQL
from tenants.models import RateLimitPolicy, Tenant
from tests.helpers import raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "conc"


@pytest.fixture
def conn(no_slots):
    engine.create_queue(QUEUE)
    connection = raw_connection()
    yield connection
    connection.close()
    engine.drop_queue(QUEUE)  # and with it the queue's slots and parked runs


def q(conn, sql, *params):
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def spawn(conn, tenant, n=1, queue=QUEUE):
    return [
        q(
            conn,
            "select task_id from absurd.spawn_task(%s, 'x.task', '{}'::jsonb, %s::jsonb)",
            queue,
            json.dumps({"headers": {"tenant": tenant} if tenant else {}, "max_attempts": 1}),
        )[0]["task_id"]
        for _ in range(n)
    ]


def claim(conn, qty, queue=QUEUE, worker="w1"):
    """What a worker's claim statement returns, deferred runs included."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(CLAIM_SQL, {"queue": queue, "worker": worker, "timeout": 60, "qty": qty})
        return cursor.fetchall()


def run_row(conn, run_id):
    return q(conn, "select * from absurd.r_conc where run_id = %s", run_id)[0]


def limit(slug, max_running, **extra):
    tenant = Tenant.objects.create(slug=slug, name=slug.title())
    RateLimitPolicy.objects.create(tenant=tenant, max_running=max_running, **extra)
    return tenant


def test_over_the_limit_runs_are_parked_without_using_an_attempt(conn):
    limit("acme", 2)
    spawn(conn, "acme", 5)
    rows = claim(conn, 5)
    admitted = [r for r in rows if r["admitted"]]
    parked = [r for r in rows if not r["admitted"]]
    assert len(rows) == 5 and len(admitted) == 2 and len(parked) == 3
    assert all(r["checkpoints"] is None for r in parked)
    for row in parked:
        run = run_row(conn, row["run_id"])
        assert run["state"] == "sleeping" and run["attempt"] == 1 and run["claimed_by"] is None
        task = q(
            conn, "select state, attempts from absurd.t_conc where task_id = %s", row["task_id"]
        )
        assert task == [{"state": "sleeping", "attempts": 1}]
    slots = q(conn, "select run_id from absurd_control.running_slot where tenant = 'acme'")
    assert {s["run_id"] for s in slots} == {r["run_id"] for r in admitted}
    # Nothing else is claimable now: the parked runs sleep a few hundred ms.
    assert claim(conn, 5) == []
    wait = q(
        conn,
        "select min(available_at - now()) as wait from absurd.r_conc where state = 'sleeping'",
    )[0]["wait"]
    assert 0.15 < wait.total_seconds() < 0.35


def test_a_tenant_header_longer_than_an_index_entry_is_limited_like_any_other(conn):
    """Issue 14, defect 9: the engine takes a 3,200-character tenant header, so the
    limiter's slot and parked-run tables must too. Before, the slot insert failed: a
    WARNING, and the run was run anyway (fail open) or put back for ever (fail closed)."""
    tenant = "".join(random.choices(string.ascii_letters + string.digits, k=3200))
    RateLimitPolicy.objects.update_or_create(
        tenant=None, defaults={"max_running": 1, "concurrency_fail_open": False}
    )
    spawn(conn, tenant, 2)
    first, second = claim(conn, 2)
    assert first["admitted"] and not second["admitted"]
    slots = q(conn, "select run_id, tenant from absurd_control.running_slot")
    assert slots == [{"run_id": first["run_id"], "tenant": tenant}]
    parked = q(conn, "select run_id from absurd_control.parked_run where tenant = %s", tenant)
    assert parked == [{"run_id": second["run_id"]}]
    # The released slot wakes the parked run, which the next claim admits.
    q(conn, "select absurd.complete_run('conc', %s, '{}'::jsonb)", first["run_id"])
    woken = claim(conn, 1)
    assert [(r["run_id"], r["admitted"]) for r in woken] == [(second["run_id"], True)]


def test_the_event_log_shows_one_deferred_row_per_run_not_the_churn(conn):
    limit("acme", 1)
    spawn(conn, "acme", 2)
    first, second = claim(conn, 2)
    assert first["admitted"] and not second["admitted"]
    kinds = list(
        TaskEvent.objects.filter(task_id=second["task_id"]).values_list(
            "kind", "from_state", "to_state"
        )
    )
    assert kinds == [("spawned", None, "pending"), ("deferred", "pending", "sleeping")]
    event = TaskEvent.objects.get(task_id=second["task_id"], kind="deferred")
    assert event.reason == "tenant acme at its concurrency limit (1 running)"
    # Turned away again (made due at once by hand): nothing more is logged.
    q(conn, "update absurd.r_conc set available_at = now() where run_id = %s", second["run_id"])
    q(conn, "update absurd_control.parked_run set woken_at = now()")  # not the wake path
    again = claim(conn, 1)
    assert [r["admitted"] for r in again] == [False]
    assert TaskEvent.objects.filter(task_id=second["task_id"]).count() == 2
    # The back-off doubles for a run turned away again.
    wait = run_row(conn, second["run_id"])["available_at"] - q(conn, "select now() as n")[0]["n"]
    assert 0.35 < wait.total_seconds() < 0.65


@pytest.mark.parametrize(
    "release",
    [
        "select absurd.complete_run(%(q)s, %(run)s, '{}'::jsonb)",
        'select absurd.fail_run(%(q)s, %(run)s, \'{"name": "E", "message": "m"}\'::jsonb, null)',
        "select absurd.schedule_run(%(q)s, %(run)s, now() + interval '1 hour')",
        "select absurd.cancel_task(%(q)s, %(task)s)",
    ],
    ids=["complete", "fail", "sleep", "cancel"],
)
def test_any_release_path_frees_the_slot_and_wakes_the_oldest_parked_run(conn, release):
    limit("acme", 1)
    spawn(conn, "acme", 3)
    running, oldest, newest = claim(conn, 3)
    assert running["admitted"] and not oldest["admitted"] and not newest["admitted"]
    with conn.cursor() as cursor:
        cursor.execute(release, {"q": QUEUE, "run": running["run_id"], "task": running["task_id"]})
    assert q(conn, "select count(*) as n from absurd_control.running_slot")[0]["n"] == 0
    now = q(conn, "select now() as n")[0]["n"]
    assert run_row(conn, oldest["run_id"])["available_at"] <= now
    assert run_row(conn, newest["run_id"])["available_at"] > now  # one slot, one wake-up
    woken = claim(conn, 3)
    assert [(r["run_id"], r["admitted"]) for r in woken] == [(oldest["run_id"], True)]
    assert q(conn, "select run_id from absurd_control.parked_run") == [{"run_id": newest["run_id"]}]
    assert run_row(conn, oldest["run_id"])["attempt"] == 1


def test_a_full_tenant_backlog_is_parked_at_once_and_woken_in_order(conn):
    limit("acme", 1)
    spawn(conn, "acme", 6)
    spawn(conn, "other", 1)
    first, second = claim(conn, 2)
    assert first["admitted"] and not second["admitted"]
    # The other four pending runs of acme were parked without being claimed, so
    # the next claim reaches the other tenant's task queued behind them.
    (next_up,) = claim(conn, 5)
    assert next_up["admitted"] and next_up["headers"]["tenant"] == "other"
    parked = q(
        conn,
        "select p.run_id, r.state, r.available_at - now() as wait, r.attempt"
        " from absurd_control.parked_run p join absurd.r_conc r using (run_id)"
        " order by p.parked_at",
    )
    assert len(parked) == 5
    bulk = [p for p in parked if p["run_id"] != second["run_id"]]
    assert [p["state"] for p in bulk] == ["pending"] * 4
    assert all(25 < p["wait"].total_seconds() <= 30 for p in bulk)
    assert parked[0]["run_id"] == second["run_id"]  # parked in the order they were due
    # A released slot wakes the oldest parked run, which the next claim admits.
    q(conn, "select absurd.complete_run('conc', %s, '{}'::jsonb)", first["run_id"])
    (woken,) = claim(conn, 5)
    assert woken["run_id"] == second["run_id"] and woken["admitted"]
    q(conn, "select absurd.complete_run('conc', %s, '{}'::jsonb)", woken["run_id"])
    (woken,) = claim(conn, 5)
    assert woken["run_id"] == bulk[0]["run_id"] and woken["admitted"]
    assert woken["attempt"] == 1


def test_a_parked_run_whose_wait_timed_out_still_learns_of_the_timeout(conn):
    limit("acme", 1)
    (waiter,) = spawn(conn, "acme", 1)
    (run,) = claim(conn, 1)
    q(
        conn,
        "select * from absurd.await_event('conc', %s, %s, 'wait', 'never', 1)",
        waiter,
        run["run_id"],
    )
    spawn(conn, "acme", 1)
    (holder,) = claim(conn, 1)  # takes the slot while the wait still runs
    assert holder["task_id"] != waiter and holder["admitted"]
    (timed_out,) = wait_for(lambda: claim(conn, 1), timeout=10)
    assert timed_out["task_id"] == waiter and not timed_out["admitted"]
    q(conn, "select absurd.complete_run('conc', %s, '{}'::jsonb)", holder["run_id"])
    (again,) = claim(conn, 1)
    assert again["task_id"] == waiter and again["admitted"]
    assert again["wake_event"] == "never" and again["event_payload"] is None


def test_the_limit_holds_across_queues_and_claimers(conn):
    engine.create_queue("conc_b")
    limit("acme", 3)
    spawn(conn, "acme", 10)
    spawn(conn, "acme", 10, queue="conc_b")
    results: list[dict] = []
    barrier = threading.Barrier(4)

    def claimer(index):
        own = raw_connection()
        try:
            barrier.wait()
            for _ in range(5):
                results.extend(claim(own, 2, QUEUE if index % 2 else "conc_b", f"w{index}"))
        finally:
            own.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for r in results if r["admitted"]) == 3
    running = q(conn, "select count(*) as n from absurd.r_conc where state = 'running'")[0]["n"]
    running += q(conn, "select count(*) as n from absurd.r_conc_b where state = 'running'")[0]["n"]
    assert running == 3
    engine.drop_queue("conc_b")
    assert (
        q(conn, "select count(*) as n from absurd_control.parked_run where queue_name = 'conc_b'")[
            0
        ]["n"]
        == 0
    )


def test_platform_tenants_and_tasks_without_a_tenant_are_exempt(conn):
    Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    RateLimitPolicy.objects.update_or_create(tenant=None, defaults={"max_running": 1})
    spawn(conn, "ops", 3)
    spawn(conn, None, 3)
    assert all(r["admitted"] for r in claim(conn, 6))


def test_a_tenant_without_a_policy_gets_the_platform_default(conn):
    RateLimitPolicy.objects.update_or_create(tenant=None, defaults={"max_running": 2})
    spawn(conn, "unknown-tenant", 4)  # not even a Tenant row: still limited
    assert [r["admitted"] for r in claim(conn, 4)] == [True, True, False, False]


def test_stale_slots_are_repaired_when_the_tenant_looks_full(conn):
    limit("acme", 1)
    spawn(conn, "acme", 2)
    # A slot whose run is not executing (left by a queue without our triggers).
    q(
        conn,
        "insert into absurd_control.running_slot (queue_name, run_id, tenant, checked_at)"
        " values (%s, gen_random_uuid(), 'acme', now() - interval '1 minute')",
        QUEUE,
    )
    assert [r["admitted"] for r in claim(conn, 2)] == [True, False]
    assert q(conn, "select count(*) as n from absurd_control.running_slot")[0]["n"] == 1


@pytest.mark.parametrize(("fail_open", "admitted"), [(True, True), (False, False)])
def test_a_failing_limiter_follows_the_policy_and_warns(conn, fail_open, admitted):
    limit("acme", 5, concurrency_fail_open=fail_open)
    spawn(conn, "acme", 1)
    blocker = raw_connection()
    notices = []
    conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    try:
        blocker.execute("begin")
        blocker.execute("lock table absurd_control.running_slot in access exclusive mode")
        conn.execute("set lock_timeout = '100ms'")
        rows = claim(conn, 1)
    finally:
        blocker.execute("rollback")
        blocker.close()
        conn.execute("reset lock_timeout")
    assert [r["admitted"] for r in rows] == [admitted]
    assert any("concurrency limiter failed for tenant acme" in n for n in notices)
    state = run_row(conn, rows[0]["run_id"])["state"]
    assert state == ("running" if admitted else "sleeping")
