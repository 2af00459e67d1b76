"""A task with known step timings, written through the engine's own functions under
``absurd.fake_now``, for the step timeline's tests (core, dashboard, browser).

Attempt 1 claims at T0, checkpoints ``fetch`` (+1 s) and ``transform`` (+4 s), sleeps
until +10 s, is claimed again, checkpoints ``load`` (+12 s) and loses its lease at
+12.5 s (the engine's ``$ClaimTimeout``); attempt 2 claims at +13 s, checkpoints
``publish`` (+14 s) and completes at +15 s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from absurd_core import spawn
from tests.helpers import raw_connection

#: After any real spawn time, so the seeded runs are due when claimed.
T0 = datetime(2030, 3, 1, 12, 0, 0, tzinfo=UTC)

#: (kind, name, start ms, end ms) of every bar, in the timeline's order.
EXPECTED = [
    ("attempt", "attempt 1", 0, 12500),
    ("step", "fetch", 0, 1000),
    ("step", "transform", 1000, 4000),
    ("sleep", "sleep", 4000, 10000),
    ("step", "load", 10000, 12000),
    ("attempt", "attempt 2", 13000, 15000),
    ("step", "publish", 13000, 14000),
]

CLAIM_TIMEOUT = {
    "name": "$ClaimTimeout",
    "message": "worker did not finish task within claim interval",
    "workerId": "w-seed",
}


def seed_timeline_task(tenant: str = "acme", queue: str = "demo"):
    task = spawn("demo.two_steps", {"i": 1}, tenant=tenant, max_attempts=2)
    task_id = task.task_id

    def at(conn, seconds: float) -> None:
        moment = (T0 + timedelta(seconds=seconds)).isoformat()
        conn.execute("select set_config('absurd.fake_now', %s, false)", (moment,))

    def claim(conn):
        (run_id,) = conn.execute(
            "select run_id from absurd.claim_task(%s, 'w-seed', 60, 100) where task_id = %s",
            (queue, task_id),
        ).fetchone()
        return run_id

    def checkpoint(conn, name, run_id):
        conn.execute(
            "select absurd.set_task_checkpoint_state(%s, %s, %s, '1'::jsonb, %s, 60)",
            (queue, task_id, name, run_id),
        )

    with raw_connection() as conn:
        at(conn, 0)
        first = claim(conn)
        at(conn, 1)
        checkpoint(conn, "fetch", first)
        at(conn, 4)
        checkpoint(conn, "transform", first)
        conn.execute(
            "select absurd.schedule_run(%s, %s, %s)", (queue, first, T0 + timedelta(seconds=10))
        )
        at(conn, 10)
        assert claim(conn) == first
        at(conn, 12)
        checkpoint(conn, "load", first)
        at(conn, 12.5)
        conn.execute(
            "select absurd.fail_run(%s, %s, %s::jsonb, %s)",
            (queue, first, json.dumps(CLAIM_TIMEOUT), T0 + timedelta(seconds=12.5)),
        )
        at(conn, 13)
        second = claim(conn)
        at(conn, 14)
        checkpoint(conn, "publish", second)
        at(conn, 15)
        conn.execute("select absurd.complete_run(%s, %s, '{\"ok\": true}'::jsonb)", (queue, second))
    return task
