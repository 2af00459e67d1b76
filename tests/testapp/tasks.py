"""Test tasks. Side effects go to a plain table so tests can count them."""

from __future__ import annotations

import time

from absurd_core import external_task, task

SIDE_EFFECTS_DDL = (
    "create table if not exists test_side_effects ("
    " task_id uuid not null, step text not null, attempt int not null,"
    " at timestamptz not null default now())"
)


def record(ctx, step: str) -> None:
    with ctx._conn.cursor() as cursor:
        cursor.execute(
            "insert into test_side_effects (task_id, step, attempt) values (%s, %s, %s)",
            (ctx.task_id, step, ctx.attempt),
        )


@task("test.count_steps", queue="testq", max_attempts=3, retry={"kind": "fixed", "base_seconds": 0})
def count_steps(params, ctx):
    """Step one records a side effect; the first attempt then fails after it."""
    ctx.step("one", lambda: record(ctx, "one") or "done")
    if ctx.attempt < int(params.get("succeed_on_attempt", 2)):
        raise RuntimeError(f"planned failure on attempt {ctx.attempt}")
    ctx.step("two", lambda: record(ctx, "two") or "done")
    return {"attempt": ctx.attempt}


@task("test.sleep_then_finish", queue="testq")
def sleep_then_finish(params, ctx):
    time.sleep(float(params.get("seconds", 1)))
    return {"slept": params.get("seconds", 1)}


@task("test.pause_between_steps", queue="testq", max_attempts=3)
def pause_between_steps(params, ctx):
    """Step one, then block for a long time, then step two.

    Only the claim that actually ran step one blocks: a later claim (a retry
    after a crash, or the same run released at shutdown) finds the checkpoint
    and goes straight on.
    """
    handle = ctx.begin_step("one")
    if not handle.done:
        record(ctx, "one")
        ctx.complete_step(handle, "done")
        time.sleep(float(params.get("seconds", 60)))
    ctx.step("two", lambda: record(ctx, "two") or "done")
    return {"attempt": ctx.attempt}


@task("test.sleep_for", queue="testq")
def sleep_for(params, ctx):
    """Sleep (durably) for the given seconds, then finish."""
    ctx.sleep_for("nap", float(params["seconds"]))
    return {"woke": True}


@task("test.raise_system_exit", queue="testq", max_attempts=1)
def raise_system_exit(params, ctx):
    raise SystemExit(3)


@task("test.heartbeat_loop", queue="testq", max_attempts=1)
def heartbeat_loop(params, ctx):
    """Heartbeat until the lease is gone (cancelled), up to a limit."""
    deadline = time.monotonic() + float(params.get("seconds", 30))
    while time.monotonic() < deadline:
        ctx.heartbeat()
        time.sleep(0.05)
    return {"finished": True}


@task("test.always_fail", queue="testq", max_attempts=2)
def always_fail(params, ctx):
    raise ValueError(params.get("message", "boom"))


@task("test.complete", queue="testq")
def complete(params, ctx):
    return {"ok": True}


@task("test.sleep_long", queue="testq")
def sleep_long(params, ctx):
    ctx.sleep_for("nap", 3600)


@task("test.wait_event", queue="testq")
def wait_event(params, ctx):
    # In the task's tenant's namespace (the context adds tenant:<slug>:), raw without one.
    return ctx.await_event(params["event"])


@task("test.timed_work", queue="fairq")
def timed_work(params, ctx):
    """Record when the code started and ended (concurrency and fairness tests)."""
    record(ctx, "start")
    time.sleep(float(params.get("seconds", 0.01)))
    record(ctx, "end")
    return {"ok": True}


@task("test.orm_read", queue="testq")
def orm_read(params, ctx):
    """Task code that uses the Django ORM on the worker thread."""
    from absurd_core.models import Worker

    return {"workers": Worker.objects.count()}


# -- Mixed fleets (tests/core/test_mixed_fleets.py): one queue shared with absurd-sdk's worker.
MIXED_QUEUE = "mixedq"


@task("test.mixed_ours", queue=MIXED_QUEUE)
def mixed_ours(params, ctx):
    return {"by": "runworker", "n": params.get("n")}


#: Run by another worker (in the tests, absurd-sdk's): declared, never run by runworker.
external_task("test.external_charge", queue=MIXED_QUEUE, max_attempts=3)
