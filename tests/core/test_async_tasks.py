"""``async def`` tasks under real runworker subprocesses: steps, a sleep and an event,
kill -9 between steps, failures, and the shutdown grace (absurd_core/worker/async_executor.py)."""

import signal
import uuid

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine, registry, spawn
from tests.helpers import WorkerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def queues():
    engine.create_queue("testq")


def _result(task_id):
    return engine.get_task_result("testq", task_id)


def _terminal(task_id):
    result = _result(task_id)
    return result if result.state in ("completed", "failed", "cancelled") else None


def _runs(task_id):
    query = sql.SQL(
        "select attempt, state from absurd.{} where task_id = %s order by attempt, created_at"
    ).format(sql.Identifier("r_testq"))
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), [task_id])
        return cursor.fetchall()


def test_async_handlers_are_registered_as_async():
    assert registry["test.async_two_steps"].is_async
    assert not registry["test.count_steps"].is_async


def test_kill_9_between_steps_then_another_worker_finishes_each_step_once(side_effects):
    event = f"go-{uuid.uuid4().hex}"
    spawned = spawn("test.async_two_steps", {"hold": 120, "event": event}, tenant="t1")
    first = WorkerProcess("--queue", "testq", "--claim-timeout", "2", "--poll-interval", "0.1")
    with first:
        # Step one, the durable sleep (the worker claims it again when it ends), step two.
        wait_for(lambda: side_effects(spawned.task_id, "two") == 1, timeout=60)
        first.stop(signal.SIGKILL)
    assert "task.suspended" in first.output  # the sleep ended an attempt on the event loop
    assert _result(spawned.task_id).state == "running"
    assert side_effects(spawned.task_id, "one") == 1
    with WorkerProcess("--queue", "testq", "--claim-timeout", "2", "--poll-interval", "0.1") as w:
        # The lease runs out; the retry replays one, the nap and two from their checkpoints
        # and waits for the tenant's event.
        wait_for(lambda: _runs(spawned.task_id)[-1] == (2, "sleeping"), timeout=60)
        engine.emit_event("testq", f"tenant:t1:{event}", {"n": 7})
        result = wait_for(lambda: _terminal(spawned.task_id), timeout=60)
        assert w.stop() == 0
    assert result.state == "completed"
    assert result.result == {
        "first": "one done",
        "event": {"n": 7},
        "third": "three done",
        "attempt": 2,
    }
    for step in ("one", "two", "three"):
        assert side_effects(spawned.task_id, step) == 1, step
    assert [state for _, state in _runs(spawned.task_id)] == ["failed", "completed"]
    assert "task.completed" in w.output and "name=test.async_two_steps" in w.output


def test_an_async_failure_is_recorded_with_its_traceback():
    spawned = spawn("test.async_fail", {"message": "no luck"}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--poll-interval", "0.1") as worker:
        result = wait_for(lambda: _terminal(spawned.task_id))
        worker.stop()
    assert result.state == "failed"
    assert result.failure["name"] == "ValueError"
    assert result.failure["message"] == "no luck"
    assert "async_fail" in result.failure["traceback"]
    assert "task.fail" in worker.output and "ValueError: no luck" in worker.output


def test_sigterm_past_the_grace_period_releases_a_running_async_task(side_effects):
    spawned = spawn("test.async_two_steps", {"hold": 120, "nap": 0}, tenant="t1")
    worker = WorkerProcess("--queue", "testq", "--grace", "0.5", "--worker-id", "w-async")
    with worker:
        wait_for(lambda: side_effects(spawned.task_id, "two") == 1, timeout=60)
        assert worker.stop(signal.SIGTERM) == 0
    (run,) = _runs(spawned.task_id)  # given back: the same run, not a retry
    engine.cancel_task("testq", spawned.task_id)  # no later test's worker picks it up
    assert run[1] in ("pending", "sleeping")
    assert "worker.released" in worker.output
    # Released, not settled: the run was not counted as processed.
    assert f"task.completed task_id={spawned.task_id}" not in worker.output


def test_sigterm_lets_a_short_async_task_finish_within_the_grace_period(side_effects):
    event = f"go-{uuid.uuid4().hex}"  # events live as long as the queue: a name of its own
    spawned = spawn("test.async_two_steps", {"hold": 1, "nap": 0, "event": event}, tenant="t1")
    engine.emit_event("testq", f"tenant:t1:{event}", {"early": True})
    worker = WorkerProcess("--queue", "testq", "--grace", "30")
    with worker:
        wait_for(lambda: side_effects(spawned.task_id, "two") == 1, timeout=60)
        assert worker.stop(signal.SIGTERM) == 0
    result = _result(spawned.task_id)
    assert result.state == "completed", worker.output
    assert result.result["event"] == {"early": True}
    assert f"task.completed task_id={spawned.task_id}" in worker.output
    assert "released=0" in worker.output
