"""demo.crunch: a few seconds of real work with a heartbeat, and crash recovery with it.

Real ``runworker`` subprocesses: one is killed with SIGKILL in the middle of the task;
once its lease runs out, the engine fails the attempt (``$ClaimTimeout``) and a second
worker finishes the task from its checkpoints.
"""

import signal

import pytest

from absurd_core import engine, spawn
from absurd_core.queries.checkpoints import checkpoint_values
from absurd_core.queries.tasks import find_task
from absurd_core.tenancy import TenantScope
from tests.helpers import WorkerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ACME = TenantScope("acme")
FAST = ("--queue", "demo", "--poll-interval", "0.05", "--concurrency", "1")


@pytest.fixture
def demo_queue():
    engine.create_queue("demo")
    yield
    engine.drop_queue("demo")


def state(task_id) -> str:
    return find_task(ACME, task_id).state


def test_crunch_outlives_a_short_claim_timeout_with_its_heartbeat(demo_queue):
    # 3 s of work under a 1 s lease: only the heartbeat (and the lease keeper) keep it.
    task = spawn("demo.crunch", {"seconds": 3, "steps": 3}, tenant="acme")
    with WorkerProcess(*FAST, "--claim-timeout", "1"):
        wait_for(lambda: state(task.task_id) == "completed", timeout=60)
    detail = find_task(ACME, task.task_id)
    assert [r.state for r in detail.runs] == ["completed"]  # never expired
    assert detail.result["attempt"] == 1 and detail.result["rounds"] > 0
    run = detail.runs[0]
    assert (run.ended_at - run.started_at).total_seconds() >= 3  # it really worked
    names = [c.name for c in checkpoint_values(ACME, "demo", task.task_id).items]
    assert names == ["chunk-1", "chunk-2", "chunk-3"]


def test_kill_9_mid_run_then_the_run_is_retried_after_its_lease_and_completes(demo_queue):
    task = spawn("demo.crunch", {"seconds": 8, "steps": 4}, tenant="acme")

    def chunks():
        return {c.name: c for c in checkpoint_values(ACME, "demo", task.task_id).items}

    first = WorkerProcess(*FAST, "--claim-timeout", "3", "--worker-id", "doomed")
    with first:
        wait_for(lambda: "chunk-1" in chunks(), timeout=60)
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    before = chunks()
    assert "chunk-4" not in before
    # Nobody has noticed yet: the dead worker's lease still holds the run.
    assert state(task.task_id) == "running"

    with WorkerProcess(*FAST, "--claim-timeout", "30", "--worker-id", "rescuer"):
        wait_for(lambda: state(task.task_id) == "completed", timeout=90)

    detail = find_task(ACME, task.task_id)
    lost, finished = detail.runs
    assert lost.state == "failed" and lost.failure["name"] == "$ClaimTimeout"
    assert lost.failure["workerId"] == "doomed"
    assert lost.failed_at is not None and lost.ended_at == lost.failed_at
    assert finished.state == "completed" and detail.result["attempt"] == 2
    after = chunks()
    assert sorted(after) == ["chunk-1", "chunk-2", "chunk-3", "chunk-4"]
    for name, checkpoint in before.items():  # done before the crash: not done again
        assert after[name].updated_at == checkpoint.updated_at
        assert after[name].owner_run_id == lost.run_id
    assert after["chunk-4"].owner_run_id == finished.run_id
