"""Parity: every state-changing absurd.* function leaves the same trail whether our
Python code or raw SQL calls it (docs/lifecycle.md has the audit table)."""

import re
import uuid

import pytest
from psycopg import sql

from absurd_core import engine
from absurd_core.models import DeadLetter, TaskEvent
from tests.core.lifecycle_paths import QUEUE, PythonPath, SqlPath, raw_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, params=["unpartitioned", "partitioned"])
def queue(request):
    """Every parity test runs on both of upstream's storage modes: our triggers and
    indexes equip a partitioned queue's parent tables, and reach its partitions."""
    engine.create_queue(QUEUE, storage_mode=request.param)
    yield request.param
    engine.drop_queue(QUEUE)


@pytest.fixture
def driver():
    """Raw SQL on its own connection, as absurdctl or psql would call the engine."""
    sql_path = SqlPath()
    yield sql_path
    sql_path.close()


@pytest.fixture(params=["sql", "python"])
def path(request):
    driver = SqlPath() if request.param == "sql" else PythonPath()
    yield driver
    driver.close()


@pytest.fixture
def heard():
    """The (channel, payload) notifications received since the last call."""
    conn = raw_connection()
    for channel in ("absurd_control_wake", "absurd_control_changed"):
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))

    def drain():
        return {(n.channel, n.payload) for n in conn.notifies(timeout=0.2)}

    yield drain
    conn.close()


WAKE = ("absurd_control_wake", QUEUE)


def trail(task_id):
    rows = TaskEvent.objects.filter(queue=QUEUE, task_id=task_id).order_by("id")
    return [
        (
            e.kind,
            e.from_state,
            e.to_state,
            e.attempt,
            re.sub(r"^until .*", "until", e.reason or ""),
            e.tenant,
        )
        for e in rows
    ]


def act(path, run, sql_action, *args):
    """The run-level step: raw SQL does it explicitly; Python runs the task's code."""
    if isinstance(path, SqlPath):
        getattr(path, sql_action)(run, *args)
    else:
        path.execute(run)


def test_spawn_claim_complete(path, heard):
    task_id = path.spawn("test.complete", {})
    # absurd_control_changed is heard for too: nothing is sent on it any more (0012).
    assert heard() == {WAKE}
    act(path, path.claim(), "complete")
    assert heard() == set()  # no wake-up: nothing became claimable
    assert trail(task_id) == [
        ("spawned", None, "pending", 1, "", "acme"),
        ("claimed", "pending", "running", 1, "", "acme"),
        ("completed", "running", "completed", 1, "", "acme"),
    ]
    assert not DeadLetter.objects.filter(task_id=task_id).exists()


def test_fail_with_retry_then_terminal_failure_and_dead_letter(path):
    task_id = path.spawn("test.always_fail", {}, max_attempts=2)
    act(path, path.claim(), "fail")
    act(path, path.claim(), "fail")
    assert trail(task_id) == [
        ("spawned", None, "pending", 1, "", "acme"),
        ("claimed", "pending", "running", 1, "", "acme"),
        ("retry_scheduled", "running", "pending", 1, "ValueError: boom", "acme"),
        ("claimed", "pending", "running", 2, "", "acme"),
        ("failed", "running", "failed", 2, "ValueError: boom", "acme"),
    ]
    dead = DeadLetter.objects.get(task_id=task_id)
    assert (dead.state, dead.tenant, dead.task_name) == ("open", "acme", "test.always_fail")
    assert (dead.error_name, dead.error_message, dead.attempts) == ("ValueError", "boom", 2)


def test_sleep_until_a_time(path, heard):
    task_id = path.spawn("test.sleep_long", {})
    run = path.claim()
    heard()
    act(path, run, "sleep")
    assert WAKE in heard()  # a finite wake-up time: workers re-arm their timers
    assert trail(task_id)[-1] == ("sleeping", "running", "sleeping", 1, "until", "acme")
    detail = TaskEvent.objects.filter(task_id=task_id).last().detail
    assert "until" in detail


def test_await_event_then_emit_wakes_and_completes(path, heard):
    # The tenant's namespace: what a task of acme awaits, whatever name its code passes.
    event = f"tenant:acme:go-{uuid.uuid4().hex[:6]}"
    task_id = path.spawn("test.wait_event", {"event": event})
    run = path.claim()
    heard()
    act(path, run, "await_event", event)
    assert WAKE not in heard()  # waiting without a timeout: nothing to wake for
    path.emit(event, {"n": 1})
    assert WAKE in heard()  # the waiter is claimable now
    act(path, path.claim(), "complete")
    assert trail(task_id) == [
        ("spawned", None, "pending", 1, "", "acme"),
        ("claimed", "pending", "running", 1, "", "acme"),
        ("sleeping", "running", "sleeping", 1, f"waiting for event {event}", "acme"),
        ("woken", "sleeping", "pending", 1, f"event {event}", "acme"),
        ("claimed", "pending", "running", 1, "", "acme"),
        ("completed", "running", "completed", 1, "", "acme"),
    ]
    emitted = TaskEvent.objects.filter(queue=QUEUE, kind="event_emitted", event_name=event)
    assert emitted.count() == 1
    # First emit wins: a second emit changes nothing and logs nothing.
    path.emit(event, {"n": 2})
    assert emitted.count() == 1


def test_cancel_pending_and_running(path):
    pending = path.spawn("test.complete", {})
    path.cancel(pending)
    assert trail(pending)[-1] == ("cancelled", "pending", "cancelled", 1, "", "acme")
    running = path.spawn("test.complete", {})
    path.claim()
    path.cancel(running)
    assert trail(running)[-1] == ("cancelled", "running", "cancelled", 1, "", "acme")
    assert not DeadLetter.objects.filter(task_id__in=[pending, running]).exists()


def test_retry_task_after_terminal_failure(path):
    task_id = path.spawn("test.always_fail", {}, max_attempts=1)
    act(path, path.claim(), "fail")
    path.retry(task_id)
    assert trail(task_id)[-2:] == [
        ("failed", "running", "failed", 1, "ValueError: boom", "acme"),
        ("retried", "failed", "pending", 2, "", "acme"),
    ]


def test_extend_claim_and_checkpoints_log_nothing(driver):
    task_id = driver.spawn("test.complete", {})
    run = driver.claim()
    before = TaskEvent.objects.count()
    driver.q("select absurd.extend_claim(%s, %s, 30)", QUEUE, run["run_id"])
    driver.q(
        "select absurd.set_task_checkpoint_state(%s, %s, 'a', '1'::jsonb, %s, 30)",
        QUEUE,
        task_id,
        run["run_id"],
    )
    assert TaskEvent.objects.count() == before


def _fake_now(driver, seconds):
    driver.q(
        "select set_config('absurd.fake_now', (now() + make_interval(secs => %s))::text, false)",
        seconds,
    )


def test_claim_task_failing_an_expired_lease_logs_and_dead_letters(driver):
    task_id = driver.spawn("test.complete", {}, max_attempts=2)
    _fake_now(driver, 0)
    driver.q("select * from absurd.claim_task(%s, 'crashed-worker', 5, 1)", QUEUE)
    _fake_now(driver, 10)  # the lease ran out; the next claim sweeps it
    driver.q("select * from absurd.claim_task(%s, 'other', 5, 1)", QUEUE)
    _fake_now(driver, 20)
    driver.q("select * from absurd.claim_task(%s, 'other', 5, 1)", QUEUE)
    kinds = [row[0] for row in trail(task_id)]
    assert kinds == ["spawned", "claimed", "retry_scheduled", "claimed", "failed"]
    failure = TaskEvent.objects.filter(task_id=task_id, kind="failed").get()
    assert failure.reason.startswith("$ClaimTimeout: worker did not finish task")
    assert DeadLetter.objects.get(task_id=task_id).error_name == "$ClaimTimeout"


def test_claim_task_cancellation_policy_path_logs_cancelled(driver):
    task_id = driver.spawn("test.complete", {}, cancellation={"max_delay": 1})
    _fake_now(driver, 30)
    assert driver.q("select * from absurd.claim_task(%s, 'w', 5, 1)", QUEUE) == []
    assert trail(task_id)[-1][:3] == ("cancelled", "pending", "cancelled")


def test_cleanup_removes_history_and_keeps_open_dead_letters(driver):
    done = driver.spawn("test.complete", {})
    driver.complete(driver.claim())
    failed = driver.spawn("test.always_fail", {}, max_attempts=1)
    driver.fail(driver.claim())
    driver.emit("old-event", {})
    _fake_now(driver, 90 * 86400)
    driver.q("select * from absurd.cleanup_tasks(%s, 86400, 100)", QUEUE)
    driver.q("select * from absurd.cleanup_events(%s, 86400, 100)", QUEUE)
    assert not TaskEvent.objects.filter(task_id__in=[done, failed]).exists()
    assert not TaskEvent.objects.filter(queue=QUEUE, event_name="old-event").exists()
    dead = DeadLetter.objects.get(task_id=failed)
    assert dead.state == "open" and dead.task_deleted_at is not None


def test_drop_queue_cleans_up_after_it(driver):
    failed = driver.spawn("test.always_fail", {}, max_attempts=1)
    driver.fail(driver.claim())
    assert DeadLetter.objects.filter(queue=QUEUE).exists()
    driver.q("select absurd.drop_queue(%s)", QUEUE)
    assert not TaskEvent.objects.filter(queue=QUEUE).exists()
    assert not DeadLetter.objects.filter(task_id=failed).exists()


def test_queue_created_with_raw_sql_gets_its_triggers_and_logs_its_first_spawn():
    with raw_connection() as conn:
        conn.execute("select absurd.create_queue('raw_lc')")
        task_id = conn.execute(
            "select task_id from absurd.spawn_task('raw_lc', 'x', '{}'::jsonb,"
            ' \'{"headers": {"tenant": "acme"}}\'::jsonb)'
        ).fetchone()[0]
    try:
        assert TaskEvent.objects.get(queue="raw_lc", task_id=task_id).kind == "spawned"
    finally:
        engine.drop_queue("raw_lc")


def test_same_transaction_create_and_spawn_is_logged():
    with raw_connection() as conn, conn.transaction():
        conn.execute("select absurd.create_queue('raw_tx')")
        task_id = conn.execute(
            "select task_id from absurd.spawn_task('raw_tx', 'x', '{}'::jsonb)"
        ).fetchone()[0]
    try:
        assert TaskEvent.objects.filter(queue="raw_tx", task_id=task_id, kind="spawned").exists()
    finally:
        engine.drop_queue("raw_tx")


def _listen(conn, channel):
    conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))


def _drain(conn):
    return [(n.channel, n.payload) for n in conn.notifies(timeout=0.3)]


def test_notifications_are_the_same_from_sql_and_python(path):
    with raw_connection() as listener:
        _listen(listener, "absurd_control_wake")
        _listen(listener, "absurd_control_changed")
        path.spawn("test.complete", {})
        got = _drain(listener)
    assert ("absurd_control_wake", QUEUE) in got
    assert all(channel == "absurd_control_wake" for channel, _ in got)
    assert all(payload == QUEUE for _, payload in got)  # small payloads: the queue only


def test_no_change_notifications_for_nobody():
    """absurd_control_changed had no listener; 0012_current_sql dropped it from the hot path."""
    with raw_connection() as listener, raw_connection() as writer:
        _listen(listener, "absurd_control_changed")
        for i in range(50):
            writer.execute(
                "select absurd.spawn_task(%s, 'test.complete', %s::jsonb)", (QUEUE, f'{{"i":{i}}}')
            )
        got = _drain(listener)
        gone = writer.execute(
            "select to_regprocedure('absurd_control.notify_changed(text)') is null"
        ).fetchone()[0]
    assert got == []
    assert gone


@pytest.fixture
def hook_calls():
    with raw_connection() as conn:
        conn.execute(
            "create table if not exists test_hook_calls"
            " (queue text, task_id uuid, state text, tenant text)"
        )
        conn.execute("truncate test_hook_calls")
        conn.execute(
            "create or replace function public.test_terminal_hook("
            " p_queue text, p_task uuid, p_state text, p_tenant text) returns void"
            " language sql as $$ insert into test_hook_calls values"
            " (p_queue, p_task, p_state, p_tenant) $$"
        )
        conn.execute(
            "insert into absurd_control.terminal_hook (name, function_name)"
            " values ('test', 'public.test_terminal_hook') on conflict do nothing"
        )
    yield (
        lambda: (
            raw_connection()
            .execute("select state, tenant from test_hook_calls order by state")
            .fetchall()
        )
    )
    with raw_connection() as conn:
        conn.execute("delete from absurd_control.terminal_hook where name = 'test'")


def test_terminal_state_hook_runs_for_every_terminal_path(hook_calls, driver):
    done = driver.spawn("test.complete", {})
    driver.complete(driver.claim())
    failed = driver.spawn("test.always_fail", {}, max_attempts=1)
    driver.fail(driver.claim())
    cancelled = driver.spawn("test.complete", {})
    driver.cancel(cancelled)  # a raw absurd.cancel_task
    assert done and failed
    assert hook_calls() == [("cancelled", "acme"), ("completed", "acme"), ("failed", "acme")]


def test_retry_by_any_path_resolves_the_open_dead_letter(path):
    task_id = path.spawn("test.always_fail", {}, max_attempts=1)
    act(path, path.claim(), "fail")
    assert DeadLetter.objects.get(task_id=task_id).state == "open"
    path.retry(task_id)  # absurd.retry_task directly, or engine.retry_task
    dead = DeadLetter.objects.get(task_id=task_id)
    assert (dead.state, dead.resolved_by) == ("retried", "absurd.retry_task")


def test_fail_run_on_a_sleeping_run_logs_the_retry(driver):
    task_id = driver.spawn("test.complete", {}, max_attempts=3)
    run = driver.claim()
    driver.sleep(run)
    driver.fail(run, message="failed while asleep")
    last = trail(task_id)[-1]
    assert last[:3] == ("retry_scheduled", "sleeping", "pending")
    assert last[4] == "ValueError: failed while asleep"


def test_max_duration_cancellation_in_fail_run_keeps_the_failure_reason(driver):
    task_id = driver.spawn("test.complete", {}, cancellation={"max_duration": 5})
    _fake_now(driver, 0)
    run = driver.claim()
    _fake_now(driver, 60)
    driver.fail(run, message="too slow")
    last = trail(task_id)[-1]
    assert last[:3] == ("cancelled", "running", "cancelled")
    assert last[4] == "ValueError: too slow"


def test_queue_names_with_percent_signs_are_equipped():
    with raw_connection() as conn:
        conn.execute("select absurd.create_queue('odd%name')")
        conn.execute("select absurd.spawn_task('odd%name', 'x', '{}'::jsonb)")
        installed = conn.execute("select absurd_control.install_all_queues()").fetchone()[0]
    try:
        assert installed == 0  # already complete, and no error for any queue
        assert TaskEvent.objects.filter(queue="odd%name", kind="spawned").count() == 1
    finally:
        with raw_connection() as conn:
            conn.execute("select absurd.drop_queue('odd%name')")


def test_a_failing_hook_is_reported_and_does_not_block_the_transition(hook_calls):
    with raw_connection() as conn:
        conn.execute(
            "create or replace function public.test_broken_hook("
            " p_queue text, p_task uuid, p_state text, p_tenant text) returns void"
            " language plpgsql as $$ begin raise exception 'hook is broken'; end $$"
        )
        conn.execute(
            "insert into absurd_control.terminal_hook (name, function_name)"
            " values ('0-broken', 'public.test_broken_hook')"
        )
    driver = SqlPath()
    warnings = []
    driver.conn.add_notice_handler(lambda diag: warnings.append(diag.message_primary))
    try:
        task_id = driver.spawn("test.complete", {})
        driver.complete(driver.claim())
        assert engine.get_task_result(QUEUE, task_id).state == "completed"
        assert hook_calls() == [("completed", "acme")]  # the next hook still ran
        assert any("terminal hook 0-broken failed" in w for w in warnings)
    finally:
        driver.close()
        with raw_connection() as conn:
            conn.execute("delete from absurd_control.terminal_hook where name = '0-broken'")
