"""Test tasks. Side effects go to a plain table so tests can count them."""

from __future__ import annotations

import time

from absurd_core import task

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
