"""Delayed starts: spawn(..., run_after=datetime | timedelta) (issue 18, item 2).

The task sits pending with its first run's available_at at the start time; nothing
claims it before (absurd.claim_task, whoever calls it), the worker's timer claims it
after, and cancelling it before it starts goes through the one cancel path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from absurd_core import engine, spawn
from absurd_core.actions.tasks import cancel_if_unfinished
from absurd_core.delayed_starts import MAX_START_DELAY
from absurd_core.errors import InvalidArgument
from absurd_core.tenancy import TenantScope
from tenants.permissions import Principal
from tests.helpers import WorkerProcess, wait_for


def _q(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _run(task_id):
    (row,) = _q(
        "select r.state, r.available_at, r.started_at, t.state, t.enqueue_at"
        " from absurd.r_demo r join absurd.t_demo t using (task_id) where r.task_id = %s",
        [task_id],
    )
    return row


def _claim(fake_now=None):
    """absurd.claim_task as any other client calls it, at the engine's (fake) now."""
    if fake_now is not None:
        _q("select set_config('absurd.fake_now', %s, false)", [fake_now.isoformat()])
    try:
        return _q("select task_id from absurd.claim_task('demo', 'probe', 30, 10)")
    finally:
        _q("select set_config('absurd.fake_now', '', false)")


@pytest.fixture
def demo(db):
    engine.create_queue("demo")
    return "demo"


def test_a_timedelta_delays_the_first_run_from_the_engines_clock(demo):
    spawned = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=timedelta(hours=2))
    run_state, available, started, task_state, enqueued = _run(spawned.task_id)
    assert (run_state, task_state, started) == ("pending", "pending", None)
    assert available - enqueued == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=1))
    (now,) = _q("select absurd.current_time()")[0]
    assert _claim(now) == []  # not before its time, for any client
    assert _claim(available - timedelta(milliseconds=1)) == []
    assert _claim(available) == [(spawned.task_id,)]


def test_an_aware_datetime_is_the_exact_start(demo):
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    spawned = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=at)
    assert _run(spawned.task_id)[1] == at


def test_the_engines_fake_clock_moves_delayed_starts(demo):
    frozen = datetime(2030, 1, 1, tzinfo=UTC)
    _q("select set_config('absurd.fake_now', %s, false)", [frozen.isoformat()])
    try:
        spawned = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=timedelta(days=3))
    finally:
        _q("select set_config('absurd.fake_now', '', false)")
    assert _run(spawned.task_id)[1] == frozen + timedelta(days=3)
    assert _claim(frozen + timedelta(days=3) - timedelta(seconds=1)) == []
    assert _claim(frozen + timedelta(days=3)) == [(spawned.task_id,)]


@pytest.mark.parametrize("run_after", [timedelta(0), datetime(2020, 1, 1, tzinfo=UTC)])
def test_a_start_now_or_in_the_past_is_no_delay(demo, run_after):
    spawned = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=run_after)
    assert _claim() == [(spawned.task_id,)]


@pytest.mark.parametrize(
    ("run_after", "message"),
    [
        (datetime(2030, 1, 1), "timezone-aware"),  # naive: the point of the test
        (timedelta(seconds=-1), "negative"),
        (MAX_START_DELAY + timedelta(days=1), "more than 366 days"),
        ("2030-01-01T00:00:00Z", "datetime or a timedelta"),
    ],
)
def test_bad_start_times_are_refused_and_spawn_nothing(demo, run_after, message):
    with pytest.raises(InvalidArgument, match=message):
        spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=run_after)
    assert _q("select count(*) from absurd.t_demo") == [(0,)]


def test_a_start_the_tasks_max_delay_would_cancel_first_is_refused(demo):
    with pytest.raises(InvalidArgument, match="max_delay"):
        spawn(
            "demo.two_steps",
            {"i": 1},
            tenant="acme",
            run_after=timedelta(minutes=10),
            cancellation={"max_delay": 60},
        )
    assert _q("select count(*) from absurd.t_demo") == [(0,)]


def test_idempotent_delayed_spawns_behave_like_other_idempotent_spawns(demo):
    first = spawn(
        "demo.two_steps", {"i": 1}, tenant="acme", idempotency_key="k", run_after=timedelta(hours=1)
    )
    available = _run(first.task_id)[1]
    again = spawn(
        "demo.two_steps", {"i": 1}, tenant="acme", idempotency_key="k", run_after=timedelta(days=2)
    )
    assert (again.task_id, again.created, first.created) == (first.task_id, False, True)
    assert _run(first.task_id)[1] == available  # a repeat moves nothing
    # Another tenant's same key is its own task, with its own start.
    theirs = spawn(
        "demo.two_steps", {"i": 1}, tenant="other", idempotency_key="k", run_after=timedelta(0)
    )
    assert theirs.created and theirs.task_id != first.task_id
    assert _claim() == [(theirs.task_id,)]


def test_cancelling_before_the_start_goes_through_the_one_cancel_path(demo):
    spawned = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=timedelta(hours=1))
    principal = Principal(TenantScope("acme"), "operator", "user:ann")
    outcome = cancel_if_unfinished(principal, spawned.task_id)
    assert outcome.cancelled and outcome.state == "cancelled"
    assert _run(spawned.task_id)[3] == "cancelled"
    # Due or not, a cancelled task is never claimed.
    assert _claim(datetime.now(UTC) + timedelta(hours=2)) == []
    (audit,) = _q(
        "select action from absurd_control_operator_action where task_id = %s", [spawned.task_id]
    )
    assert audit == ("cancel",)


@pytest.mark.django_db(transaction=True)
def test_runworker_starts_it_on_its_timer_not_before_and_not_on_the_poll():
    """A real worker whose fallback poll (60 s) cannot be what starts it: the timer for the
    next known wake-up must. It must not start before available_at."""
    engine.create_queue("demo")
    with WorkerProcess("--queue", "demo", "--poll-interval", "60", "--concurrency", "1") as worker:
        # Started and idle (its first claim round found nothing): the spawn's NOTIFY wakes it,
        # it finds nothing due and sets its timer.
        wait_for(lambda: "worker.start " in worker.output)
        spawned = spawn("demo.two_steps", {"i": 1}, tenant="acme", run_after=timedelta(seconds=2))
        start = _run(spawned.task_id)[1]  # the start time (the claim overwrites available_at)
        assert _run(spawned.task_id)[3] == "pending"
        wait_for(lambda: _run(spawned.task_id)[3] == "completed", timeout=30)
        worker.stop()
    run_state, _, started, task_state, enqueued = _run(spawned.task_id)
    assert (run_state, task_state) == ("completed", "completed")
    assert start - enqueued >= timedelta(seconds=2)  # it was delayed
    assert started >= start, f"started at {started}, before its start {start}"
    assert "task.completed" in worker.output
