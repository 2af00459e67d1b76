"""runworker subprocesses executing real tasks against the test database."""

import signal

import pytest

from absurd_core import engine, spawn
from tests.helpers import WorkerProcess, manage, terminal_result, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ("--poll-interval", "0.05", "--concurrency", "2")


def _state(queue, task_id):
    return engine.get_task_result(queue, task_id)


@pytest.fixture
def demo_queue():
    engine.create_queue("demo")
    return "demo"


@pytest.fixture
def test_queue():
    engine.create_queue("testq")
    return "testq"


def test_two_steps_completes_with_the_right_result(demo_queue):
    spawned = spawn("demo.two_steps", {"i": 20}, tenant="t1")
    with WorkerProcess("--queue", "demo", *FAST) as worker:
        result = wait_for(lambda: terminal_result("demo", spawned.task_id))
        assert worker.stop() == 0
    assert result.state == "completed"
    assert result.result == {"i": 20, "doubled": 42}
    assert "task.completed" in worker.output
    assert f"task_id={spawned.task_id}" in worker.output


def test_step_side_effect_happens_once_across_a_retry(test_queue, side_effects):
    spawned = spawn("test.count_steps", {"succeed_on_attempt": 2}, tenant="t1")
    with WorkerProcess("--queue", "testq", *FAST) as worker:
        result = wait_for(lambda: terminal_result("testq", spawned.task_id))
        worker.stop()
    assert result.state == "completed"
    assert result.result == {"attempt": 2}
    assert side_effects(spawned.task_id, "one") == 1
    assert side_effects(spawned.task_id, "two") == 1


def test_flaky_retries_then_succeeds(demo_queue):
    spawned = spawn("demo.flaky", {"fail_times": 2}, tenant="t1", max_attempts=3)
    with WorkerProcess("--queue", "demo", *FAST):
        result = wait_for(lambda: terminal_result("demo", spawned.task_id))
    assert result.state == "completed"
    assert result.result == {"attempts": 3}


def test_flaky_with_too_few_attempts_fails_terminally_and_can_be_retried(demo_queue):
    spawned = spawn("demo.flaky", {"fail_times": 3}, tenant="t1", max_attempts=2)
    with WorkerProcess("--queue", "demo", *FAST):
        result = wait_for(lambda: terminal_result("demo", spawned.task_id))
        assert result.state == "failed"
        assert result.failure["name"] == "FlakyError"
        assert "attempt 2 of 3" in result.failure["message"]
        retried = engine.retry_task("demo", spawned.task_id, max_attempts=4)
        assert retried.task_id == spawned.task_id
        result = wait_for(lambda: terminal_result("demo", spawned.task_id))
    assert result.state == "completed"
    assert result.result == {"attempts": 4}


def test_wait_event_resumes_on_emit(demo_queue):
    spawned = spawn("demo.wait_event", {"event": "go-now"}, tenant="t1")
    with WorkerProcess("--queue", "demo", *FAST):
        wait_for(lambda: _state("demo", spawned.task_id).state == "sleeping")
        engine.emit_event("demo", "tenant:t1:go-now", {"ok": True})
        result = wait_for(lambda: terminal_result("demo", spawned.task_id))
    assert result.result == {"ok": True}


def test_sigterm_lets_the_running_task_finish_and_exits_zero(test_queue):
    spawned = spawn("test.sleep_then_finish", {"seconds": 1.5}, tenant="t1")
    with WorkerProcess("--queue", "testq", *FAST) as worker:
        # Executing, not only claimed: a claimed run not yet started is released at SIGTERM.
        wait_for(lambda: "task.start" in worker.output)
        code = worker.stop(signal.SIGTERM)
    assert code == 0
    assert _state("testq", spawned.task_id).state == "completed"
    assert "worker.stop" in worker.output


def test_unknown_task_is_deferred_not_failed(demo_queue):
    spawned = engine.spawn_task("demo", "no.such.task", {})
    with WorkerProcess("--queue", "demo", *FAST) as worker:
        wait_for(lambda: _state("demo", spawned.task_id).state == "sleeping")
        worker.stop()
    assert worker.output.count("task.unknown name=no.such.task") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--concurrency", "0"), "--concurrency must be between 1"),
        (("--concurrency", "lots"), "--concurrency must be a whole number"),
        (("--batch", "-3"), "--batch must be between 1"),
        (("--claim-timeout", "0"), "--claim-timeout must be between 1"),
        (("--poll-interval", "nan"), "--poll-interval must be between"),
        (("--grace", "-1"), "--grace must be between"),
        (("--queue", "a; drop table x"), "is not allowed"),
        (("--queue", "never_created_queue"), "does not exist"),
        (("--worker-id", " "), "--worker-id must be"),
    ],
)
def test_bad_flags_get_one_line_and_nonzero_exit(args, message):
    result = manage("runworker", *args, timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
