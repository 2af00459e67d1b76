"""Mixed fleets: runworker sharing a queue with other Absurd workers, external tasks, and the
registered defaults for tasks other clients spawned without limits."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from absurd_core import engine, spawn
from absurd_core.models import DeadLetter, Worker
from absurd_core.queries.workers import workers_for
from absurd_core.registry import registry
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from absurd_core.worker.executor import (
    MINIMUM_BACKOFF,
    UNKNOWN_BACKOFF_CAP,
    UnknownTasks,
    failure_defaults,
)
from absurd_core.worker.runner import Worker as RunWorker
from absurd_core.worker.runner import WorkerConfig, next_wakeup_sql
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import ROOT, WorkerProcess, api, database_url, raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "mixedq"
SDK_WORKER = Path(__file__).with_name("sdk_worker.py")


@pytest.fixture
def mixedq():
    engine.drop_queue(QUEUE)
    engine.create_queue(QUEUE)
    yield QUEUE
    engine.drop_queue(QUEUE)


def _task_row(queue, task_id) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"select state, attempts, max_attempts, retry_strategy, completed_payload"  # noqa: S608
            f" from absurd.t_{queue} where task_id = %s",
            [task_id],
        )
        state, attempts, max_attempts, retry, payload = cursor.fetchone()
    return {
        "state": state,
        "attempts": attempts,
        "max_attempts": max_attempts,
        "retry": retry,
        "result": engine.load_json(payload),
    }


def _runs(queue, task_id) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"select attempt, state, created_at, available_at, failure_reason"  # noqa: S608
            f" from absurd.r_{queue} where task_id = %s order by attempt",
            [task_id],
        )
        return cursor.fetchall()


# -- hand-backs: a growing, randomised backoff per task, in bounded memory ---------------------


def test_hand_back_backoff_grows_per_task_is_randomised_and_bounded():
    unknown = UnknownTasks(limit=3)
    first = [unknown.backoff("task-a") for _ in range(12)]
    assert 0.5 <= first[0] <= 1.0
    assert 1.0 <= first[1] <= 2.0 and 2.0 <= first[2] <= 4.0
    assert all(UNKNOWN_BACKOFF_CAP / 2 <= d <= UNKNOWN_BACKOFF_CAP for d in first[9:])
    # Per task: another task starts small, and two draws are not the same instant.
    draws = {round(unknown.backoff(f"t{i}"), 9) for i in range(50)}
    assert len(draws) > 40 and all(0.5 <= d <= 1.0 for d in draws)
    assert len(unknown) == 3  # at most ``limit`` tasks remembered
    # A forgotten task starts small again; names are logged once each, also bounded.
    assert 0.5 <= unknown.backoff("task-a") <= 1.0
    assert unknown.first_time("x") and not unknown.first_time("x")


def test_the_timer_ignores_runs_this_worker_does_not_run(mixedq):
    query = next_wakeup_sql([mixedq], registry)

    def seconds():
        with raw_connection() as conn:
            return conn.execute(query).fetchone()[0]

    engine.spawn_task(mixedq, "sdk.echo", {}, headers={"tenant": "acme"})
    spawn("test.external_charge", {}, tenant="acme")
    assert seconds() is None  # due runs, but none of ours: no reason to wake
    spawn("test.mixed_ours", {}, tenant="acme")
    assert seconds() <= 0


def test_the_timer_of_a_queue_without_tasks_of_ours_still_sees_leases():
    """A queue served with --queue that only other workers' tasks use: expired leases are
    still swept promptly (claim_task is what fails them)."""
    engine.drop_queue("foreignq")
    engine.create_queue("foreignq")
    try:
        engine.spawn_task("foreignq", "sdk.echo", {}, headers={"tenant": "acme"})
        query = next_wakeup_sql(["foreignq"], registry)
        with raw_connection() as conn:
            assert conn.execute(query).fetchone()[0] is None
            conn.execute("select * from absurd.claim_task('foreignq', 'ts-worker', 60, 1)")
            assert 50 < conn.execute(query).fetchone()[0] <= 60
    finally:
        engine.drop_queue("foreignq")


def test_a_queue_of_only_others_runs_is_set_aside_until_something_changes(mixedq):
    spawned = engine.spawn_task(mixedq, "sdk.echo", {}, headers={"tenant": "acme"})
    worker = RunWorker(WorkerConfig(queues=[mixedq], worker_id="inproc-1"), registry)
    try:
        _, claimed, skipped = worker._claim_round(0)
        assert (claimed, skipped) == (1, 0)
        assert mixedq in worker._foreign_only
        # Handed back and due again at once: still not claimed, the queue is set aside.
        engine.fetch_all(
            "select absurd.schedule_run(%s, %s, absurd.current_time())",
            (mixedq, spawned.run_id),
            "default",
        )
        assert worker._claim_round(1) == (0, 0, 1)
        # Its own hand-back's NOTIFY is no news; another session's is.
        worker._own_pids["absurd-exec-0"] = 4242
        worker._notified(mixedq, 4242)
        assert mixedq in worker._foreign_only
        worker._notified(mixedq, 777)
        assert mixedq not in worker._foreign_only
        # A known task due on the queue: claimed, and the queue is not set aside.
        spawn("test.mixed_ours", {}, tenant="acme")
        _, claimed, _ = worker._claim_round(2)
        assert claimed == 2 and mixedq not in worker._foreign_only
        worker._foreign_only.add(mixedq)
        worker._notified(None, None)  # a listener reconnect: anything may have changed
        assert not worker._foreign_only
    finally:
        worker._drop_claim_conn()


def test_news_during_a_claim_keeps_the_queue_in_play(mixedq):
    """A spawn that notifies while a claim that found only others' runs is in flight: the
    claim did not see the new run, so the queue must not be set aside on its word."""
    engine.spawn_task(mixedq, "sdk.echo", {}, headers={"tenant": "acme"})
    worker = RunWorker(WorkerConfig(queues=[mixedq], worker_id="inproc-2"), registry)
    claim = worker._claim

    def claim_while_news_arrives(queue, qty):
        rows = claim(queue, qty)
        worker._notified(queue, 777)  # another session's NOTIFY, after the claim's snapshot
        return rows

    worker._claim = claim_while_news_arrives
    try:
        _, claimed, _ = worker._claim_round(0)
        assert claimed == 1 and mixedq not in worker._foreign_only
        worker._claim = claim
        # Without news, the same claim sets the queue aside (so the check above is real).
        engine.spawn_task(mixedq, "sdk.echo", {}, headers={"tenant": "acme"})
        worker._claim_round(1)
        assert mixedq in worker._foreign_only
    finally:
        worker._drop_claim_conn()


def test_a_broken_timer_query_brings_every_queue_back(mixedq):
    worker = RunWorker(WorkerConfig(queues=[mixedq, "gone_queue"], worker_id="inproc-3"), registry)
    try:
        worker._foreign_only.add(mixedq)
        # r_gone_queue does not exist: the timer cannot say when anything is due.
        assert worker._until_next_wakeup(0.5) == (0.5, False)
        assert not worker._foreign_only
    finally:
        worker._drop_claim_conn()


# -- external tasks -----------------------------------------------------------------------------


def test_an_external_task_spawns_through_the_api_and_runworker_never_runs_it(mixedq):
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ops").key
    answer = api("post", "/tasks", key, {"task": "test.external_charge", "params": {"amount": 7}})
    assert answer.status_code == 201, answer.json()
    assert answer.json()["queue"] == mixedq
    task_id = answer.json()["task_id"]
    assert _task_row(mixedq, task_id)["max_attempts"] == 3  # its declared default
    ours = spawn("test.mixed_ours", {"n": 1}, tenant="acme")
    with WorkerProcess("--queue", mixedq, "--poll-interval", "0.1") as worker:
        wait_for(lambda: _task_row(mixedq, ours.task_id)["state"] == "completed", timeout=20)
        # Claimed and handed back: sleeping, with its first attempt untouched.
        wait_for(lambda: "name=test.external_charge" in worker.output, timeout=20)
        # The log line comes before the hand-back commits: await the row, not the line.
        wait_for(lambda: _task_row(mixedq, task_id)["state"] != "running", timeout=20)
        row = _task_row(mixedq, task_id)
        worker.stop()
    assert "an external task here" in worker.output
    assert row["state"] in ("pending", "sleeping") and row["attempts"] == 1
    assert [(r[0], r[4]) for r in _runs(mixedq, task_id)] == [(1, None)]
    started = [line for line in worker.output.splitlines() if "task.start" in line]
    assert started and not any("name=test.external_charge" in line for line in started)


def test_runworker_without_queue_does_not_serve_a_queue_only_external_tasks_use():
    from absurd_core.registry import TaskRegistry, TaskSpec

    fleet = TaskRegistry()
    fleet.register(TaskSpec("billing.charge", "billing", None))
    fleet.register(TaskSpec("ours.x", "ours", lambda p, c: None))
    assert fleet.queues() == ["ours"]
    assert fleet.runnable("billing.charge", "billing") is None
    assert fleet.spawnable("billing.charge") is not None


# -- absurd-sdk's own worker and runworker on one queue ----------------------------------------


def test_absurd_sdk_worker_and_runworker_share_a_queue_without_starving(mixedq):
    """Every task of both completes within seconds: runworker hands the SDK's tasks back
    at once, with no timer that would win their claim again, and leaves the queue to the
    SDK worker while only its runs are due there."""
    deadline = 10.0
    with WorkerProcess("--queue", mixedq, "--poll-interval", "1", "--concurrency", "4"):
        wait_for(lambda: Worker.objects.filter(queues__contains=[mixedq]).exists())
        started = time.monotonic()
        with transaction.atomic():
            ours = [spawn("test.mixed_ours", {"n": i}, tenant="acme") for i in range(3)]
            theirs = [
                engine.spawn_task(mixedq, "sdk.echo", {"n": i}, headers={"tenant": "acme"})
                for i in range(3)
            ]
            external = [spawn("test.external_charge", {"amount": 5}, tenant="acme")]
        # The SDK worker comes up while runworker already holds the queue.
        sdk = subprocess.Popen(
            [sys.executable, str(SDK_WORKER), database_url()],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            everything = [t.task_id for t in ours + theirs + external]
            wait_for(
                lambda: all(_task_row(mixedq, t)["state"] == "completed" for t in everything),
                timeout=deadline,
            )
            # A second wave while both run: the SDK's tasks still go through at once.
            second = [
                engine.spawn_task(mixedq, "sdk.echo", {"n": 10 + i}, headers={"tenant": "acme"})
                for i in range(3)
            ] + [spawn("test.external_charge", {"amount": 6}, tenant="acme")]
            wait_for(
                lambda: all(_task_row(mixedq, t.task_id)["state"] == "completed" for t in second),
                timeout=deadline,
            )
        finally:
            sdk.terminate()
            sdk.wait(timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 2 * deadline
    assert {_task_row(mixedq, t.task_id)["result"]["by"] for t in ours} == {"runworker"}
    assert {_task_row(mixedq, t.task_id)["result"]["by"] for t in theirs + external + second} == {
        "absurd-sdk"
    }


# -- workers list: external workers --------------------------------------------------------------


def test_external_workers_are_listed_from_the_runs_they_hold(mixedq):
    engine.spawn_task(mixedq, "sdk.echo", {}, headers={"tenant": "acme"})
    engine.spawn_task(mixedq, "sdk.echo", {}, headers={"tenant": "acme"})
    with raw_connection() as conn:  # what a TypeScript worker's claim does
        conn.execute("select * from absurd.claim_task(%s, 'ts-worker-1', 60, 2)", (mixedq,))
    Worker.objects.create(
        worker_id="ours-1",
        host="h",
        pid=1,
        queues=[mixedq],
        concurrency=2,
        started_at=timezone.now(),
        last_seen=timezone.now(),  # within the dead-worker retention: listed
    )
    listed = {w.worker_id: w for w in workers_for(TenantScope(ALL_TENANTS))}
    assert listed["ts-worker-1"].external and listed["ts-worker-1"].queues == [mixedq]
    assert listed["ts-worker-1"].status == "alive" and listed["ts-worker-1"].in_flight == 2
    assert not listed["ours-1"].external
    # A tenant sees the external worker too (workers are shared), without its counters.
    (tenant_view,) = [w for w in workers_for(TenantScope("acme")) if w.external]
    assert tenant_view.worker_id == "ts-worker-1" and tenant_view.in_flight is None
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "read", role="viewer").key
    rows = {w["worker_id"]: w for w in api("get", "/workers", key).json()}
    assert rows["ts-worker-1"]["external"] is True and rows["ts-worker-1"]["concurrency"] is None
    assert rows["ours-1"]["external"] is False


# -- defaults for foreign spawns ----------------------------------------------------------------


def test_failure_defaults_fill_only_what_the_task_row_lacks():
    spec = registry["demo.flaky"]  # max 5, fixed 0 s
    assert failure_defaults({"max_attempts": 3, "retry_strategy": {"kind": "none"}}, spec) == (
        None,
        None,
    )
    assert failure_defaults({"max_attempts": None, "retry_strategy": None}, spec) == (
        5,
        {"kind": "fixed", "base_seconds": 0},
    )
    bare = registry["test.always_fail"]  # max 2, no strategy
    assert failure_defaults({"max_attempts": None, "retry_strategy": None}, bare) == (
        2,
        MINIMUM_BACKOFF,
    )
    # A row with its own limit but no strategy keeps the engine's behaviour.
    assert failure_defaults({"max_attempts": 2, "retry_strategy": None}, bare) == (None, None)


def _raw_spawn(queue: str, name: str, options: dict) -> str:
    """What absurdctl spawn-task does: the engine's spawn, none of our defaults."""
    with raw_connection() as conn:
        return conn.execute(
            "select task_id from absurd.spawn_task(%s, %s, '{}'::jsonb, %s::jsonb)",
            (queue, name, json.dumps(options)),
        ).fetchone()[0]


def _claim_one(queue: str):
    with raw_connection() as conn:
        return conn.execute(
            "select run_id from absurd.claim_task(%s, 'sql-worker', 60, 1)", (queue,)
        ).fetchone()[0]


def test_fail_run_with_defaults_uses_the_registered_strategy_and_keeps_the_rows_own(mixedq):
    bare = _raw_spawn(mixedq, "x.bare", {"headers": {"tenant": "acme"}})
    with raw_connection() as conn:
        conn.execute(
            "select absurd_control.fail_run_with_defaults(%s, %s, '{}'::jsonb, 3, %s::jsonb)",
            (mixedq, _claim_one(mixedq), '{"kind": "fixed", "base_seconds": 30}'),
        )
    (first, retry) = _runs(mixedq, bare)
    assert 29 <= (retry[3] - first[2]).total_seconds() <= 40  # the retry time passed in
    assert _task_row(mixedq, bare)["max_attempts"] is None  # attempt 1 < 3: not yet stamped

    own = _raw_spawn(
        mixedq, "x.own", {"max_attempts": 1, "retry_strategy": {"kind": "fixed", "base_seconds": 0}}
    )
    with raw_connection() as conn:
        conn.execute(
            "select absurd_control.fail_run_with_defaults(%s, %s, '{}'::jsonb, 5, %s::jsonb)",
            (mixedq, _claim_one(mixedq), '{"kind": "fixed", "base_seconds": 30}'),
        )
    row = _task_row(mixedq, own)
    assert (row["state"], row["max_attempts"]) == ("failed", 1)  # the row's own values win


def test_a_failing_task_spawned_without_limits_stops_at_the_registered_max(db):
    """absurdctl spawn-task without --max-attempts: once ran 786 attempts in 4 s."""
    engine.drop_queue("testq")
    engine.create_queue("testq")
    task_id = _raw_spawn("testq", "test.always_fail", {"headers": {"tenant": "acme"}})
    with WorkerProcess("--queue", "testq", "--poll-interval", "0.05"):
        letter = wait_for(lambda: DeadLetter.objects.filter(task_id=task_id).first(), timeout=30)
    row = _task_row("testq", task_id)
    assert (row["state"], row["attempts"], row["max_attempts"]) == ("failed", 2, 2)
    assert letter.attempts == 2
    runs = _runs("testq", task_id)
    assert [r[0] for r in runs] == [1, 2]
    # The retry waited for the minimum backoff (1 s), not an immediate retry.
    assert (runs[1][3] - runs[0][2]).total_seconds() >= 0.9
