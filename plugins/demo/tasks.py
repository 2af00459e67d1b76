"""Demo workflows on the ``demo`` queue: small, but each shows one engine feature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from absurd_core import task
from approvals.workflow import request_approval

try:  # Django's Tasks API: django.tasks on Django 6, the django-tasks backport on 5.2
    from django.tasks import task as django_task
except ImportError:
    from django_tasks import task as django_task

QUEUE = "demo"


@task("demo.two_steps", queue=QUEUE)
def two_steps(params: dict[str, Any], ctx) -> dict[str, int]:
    """Two checkpointed steps: a retry after the first step does not redo it."""
    i = int(params["i"])
    incremented = ctx.step("increment", lambda: i + 1)
    doubled = ctx.step("double", lambda: incremented * 2)
    return {"i": i, "doubled": doubled}


@django_task(takes_context=True, queue_name=QUEUE, task_name="demo.django_two_steps")
def django_two_steps(context, i: int) -> dict[str, int]:
    """demo.two_steps written with Django's Tasks API (``django_two_steps.enqueue(i=1)``):
    the same two checkpointed steps, through the run's absurd-sdk context."""
    ctx = context.absurd
    incremented = ctx.step("increment", lambda: int(i) + 1)
    doubled = ctx.step("double", lambda: incremented * 2)
    return {"i": int(i), "doubled": doubled}


@task("demo.two_steps_async", queue=QUEUE)
async def two_steps_async(params: dict[str, Any], ctx) -> dict[str, int]:
    """``demo.two_steps`` as ``async def``: it runs on the worker's event loop."""
    i = int(params["i"])

    async def increment() -> int:
        return i + 1

    incremented = await ctx.step("increment", increment)

    async def double() -> int:
        return incremented * 2

    doubled = await ctx.step("double", double)
    return {"i": i, "doubled": doubled}


@task("demo.wait_event", queue=QUEUE)
def wait_event(params: dict[str, Any], ctx) -> Any:
    """Sleep until the named event is emitted, then return its payload.

    The task's tenant's event of that name, as ``POST /api/v1/events`` emits it: the
    context puts every wait of a tenant's task in its tenant's namespace, so a name
    from params cannot reach another tenant's events. (``"tenant_event": true``, which
    used to ask for that, is accepted and changes nothing.)
    """
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
    """Record an expense, ask for approval by email, then settle it.

    Approvers come from ``params["approvers"]`` (a list of emails), else from
    settings.DEMO_APPROVERS.
    """
    amount = params["amount"]
    requester = params["requester"]
    recorded = ctx.step("record", lambda: {"amount": amount, "requester": requester})
    decision = request_approval(
        ctx,
        f"Expense of {amount} for {requester}",
        params.get("description", ""),
        approvers=list(params.get("approvers") or settings.DEMO_APPROVERS),
        policy=params.get("policy", "any"),
        expires_in=timedelta(seconds=float(params.get("expires_in", 3 * 86400))),
        context={"amount": amount, "requester": requester},
        requester=requester,
    )
    return ctx.step(
        "settle",
        lambda: {
            **recorded,
            "approved": decision.approved,
            "outcome": decision.outcome,
            "decided_by": decision.decided_by,
            "status": "paid" if decision.approved else decision.outcome,
        },
    )


@task("demo.square", queue=QUEUE)
def square(params: dict[str, Any], ctx) -> int:
    """``{"x": i}`` -> ``i * i``: the child of ``demo.fan_out``."""
    x = int(params["x"])
    return x * x


@task("demo.fan_out", queue=QUEUE)
def fan_out(params: dict[str, Any], ctx) -> dict[str, int]:
    """Start ``n`` children of ``demo.square`` in one statement, wait for all, sum them.

    The parent holds no worker thread while its children run: ``await_children``
    suspends it until the last child's completion emits its wake-up event. A retried
    parent gets the same children back (docs/workflows.md).
    """
    n = int(params["n"])
    children = ctx.spawn_children("demo.square", [{"x": i} for i in range(n)])
    results = ctx.await_children(children)
    return {"n": n, "sum": sum(r.value for r in results)}


#: demo.crunch's limits: long enough to kill a worker mid-run, short enough for a demo.
CRUNCH_MAX_SECONDS = 600
CRUNCH_MAX_STEPS = 100


def _crunch_chunk(seconds: float, heartbeat) -> dict[str, Any]:
    """Hash for ``seconds`` of CPU time, extending the lease about twice a second."""
    import hashlib
    import time

    digest = hashlib.sha256(b"demo.crunch")
    rounds = 0
    deadline = time.monotonic() + seconds
    next_beat = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        for _ in range(2000):
            digest = hashlib.sha256(digest.digest())
        rounds += 2000
        if time.monotonic() >= next_beat:
            heartbeat()
            next_beat = time.monotonic() + 0.5
    return {"rounds": rounds, "digest": digest.hexdigest()[:16]}


@task("demo.crunch", queue=QUEUE, max_attempts=5, retry={"kind": "fixed", "base_seconds": 0})
def crunch(params: dict[str, Any], ctx) -> dict[str, Any]:
    """Work for ``seconds`` (default 8) of real CPU time in ``steps`` checkpointed steps
    (default 4), with a heartbeat twice a second, so a short ``--claim-timeout`` does not
    expire its lease while the worker lives.

    For showing crash recovery (README, "Crash recovery"): ``kill -9`` the worker while
    it runs. Once the lease runs out, the engine fails the attempt (``$ClaimTimeout``)
    and retries it; the next worker skips the steps already checkpointed and finishes.
    """
    seconds = float(params.get("seconds", 8))
    steps = int(params.get("steps", 4))
    if not (0 < seconds <= CRUNCH_MAX_SECONDS and 1 <= steps <= CRUNCH_MAX_STEPS):
        raise ValueError(
            f"seconds must be in (0, {CRUNCH_MAX_SECONDS}] and steps in [1, {CRUNCH_MAX_STEPS}]."
        )
    chunks = [
        ctx.step(f"chunk-{i}", lambda: _crunch_chunk(seconds / steps, ctx.heartbeat))
        for i in range(1, steps + 1)
    ]
    return {
        "seconds": seconds,
        "steps": steps,
        "rounds": sum(c["rounds"] for c in chunks),
        "attempt": ctx.attempt,
    }
