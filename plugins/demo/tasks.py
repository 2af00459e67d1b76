"""Demo workflows on the ``demo`` queue: small, but each shows one engine feature."""

from __future__ import annotations

from typing import Any

from absurd_core import task

QUEUE = "demo"


@task("demo.two_steps", queue=QUEUE)
def two_steps(params: dict[str, Any], ctx) -> dict[str, int]:
    """Two checkpointed steps: a retry after the first step does not redo it."""
    i = int(params["i"])
    incremented = ctx.step("increment", lambda: i + 1)
    doubled = ctx.step("double", lambda: incremented * 2)
    return {"i": i, "doubled": doubled}


@task("demo.wait_event", queue=QUEUE)
def wait_event(params: dict[str, Any], ctx) -> Any:
    """Sleep until the named event is emitted on the queue, then return its payload."""
    return ctx.await_event(str(params["event"]))


@task("demo.sleep", queue=QUEUE)
def sleep(params: dict[str, Any], ctx) -> dict[str, Any]:
    """Sleep durably for ``seconds`` (the worker holds no thread meanwhile), then finish."""
    ctx.sleep_for("nap", float(params["seconds"]))
    return {"slept": float(params["seconds"])}


class FlakyError(RuntimeError):
    pass


@task("demo.flaky", queue=QUEUE, max_attempts=5, retry={"kind": "fixed", "base_seconds": 0})
def flaky(params: dict[str, Any], ctx) -> dict[str, int]:
    """Fail the first ``fail_times`` attempts, then succeed."""
    fail_times = int(params.get("fail_times", 1))
    attempt = ctx.attempt
    if attempt <= fail_times:
        raise FlakyError(f"attempt {attempt} of {fail_times} planned failures")
    return {"attempts": attempt}


@task("demo.expense_approval", queue=QUEUE)
def expense_approval(params: dict[str, Any], ctx) -> dict[str, Any]:
    """Record an expense, wait for a decision, then settle it.

    The approvals issue replaces the plain wait with ``request_approval()``; until
    then the decision is the payload of the event ``expense:<task id>``.
    """
    amount = params["amount"]
    requester = params["requester"]
    recorded = ctx.step("record", lambda: {"amount": amount, "requester": requester})
    decision = ctx.await_event(f"expense:{ctx.task_id}")
    # {"approved": true} is the documented payload; a bare true/false is accepted too.
    approved = bool(decision.get("approved") if isinstance(decision, dict) else decision)
    return ctx.step(
        "settle",
        lambda: {**recorded, "approved": approved, "status": "paid" if approved else "rejected"},
    )
