"""Fairness under a flood: tenant B's completion times with and without tenant A's backlog.

One runworker (concurrency 4) serves the queue. B spawns 100 `demo.two_steps`
tasks; we report the 95th percentile of their completion time (enqueue to
completion, database clock) in three runs of the same database:

- alone: B's tasks only (the baseline);
- flood, limited: A has just spawned 10,000 tasks and may run 2 at once;
- flood, unlimited: the same flood with A's limit raised above the worker's
  concurrency, which is what a queue without tenant limits does: B waits for
  A's whole backlog ahead of it.
"""

from __future__ import annotations

import json

from bench.common import (
    connect,
    fresh_database,
    reset_queue,
    runworker,
    wait_until,
)

B_TASKS = 100
A_TASKS = 10_000


def spawn(conn, tenant: str, count: int) -> None:
    options = json.dumps({"headers": {"tenant": tenant}})
    conn.execute(
        "select count(*) from generate_series(1, %s) g, lateral absurd.spawn_task('demo',"
        " 'demo.two_steps', jsonb_build_object('i', g), %s::jsonb)",
        (count, options),
    )


def completed(conn, tenant: str) -> int:
    return conn.execute(
        "select count(*) from absurd.t_demo where headers->>'tenant' = %s and state = 'completed'",
        (tenant,),
    ).fetchone()[0]


def p95_seconds(conn, tenant: str) -> float:
    return conn.execute(
        "select percentile_cont(0.95) within group"
        " (order by extract(epoch from r.completed_at - t.enqueue_at))"
        " from absurd.t_demo t join absurd.r_demo r on r.run_id = t.last_attempt_run"
        " where t.headers->>'tenant' = %s",
        (tenant,),
    ).fetchone()[0]


def scenario(url: str, conn, flood_limit: int | None) -> dict:
    reset_queue(conn)
    conn.execute("truncate absurd_control.running_slot, absurd_control.parked_run")
    if flood_limit is not None:
        conn.execute(
            "update tenants_ratelimitpolicy set max_running = %s"
            " where tenant_id = (select id from tenants_tenant where slug = 'flood')",
            (flood_limit,),
        )
    with runworker(url, 4):
        if flood_limit is not None:
            spawn(conn, "flood", A_TASKS)
        spawn(conn, "small", B_TASKS)
        wait_until(lambda: completed(conn, "small") == B_TASKS, timeout=600)
        flood_done = completed(conn, "flood")
    return {"p95_s": float(p95_seconds(conn, "small")), "flood_completed": flood_done}


def run() -> dict:
    url = fresh_database()
    with connect() as conn:
        conn.execute(
            "insert into tenants_tenant (slug, name, is_platform, active, created_at)"
            " values ('flood', 'Flood', false, true, now()), ('small', 'Small', false, true, now())"
        )
        conn.execute(
            "insert into tenants_ratelimitpolicy (tenant_id, spawn_rate, spawn_burst,"
            " spawn_fail_open, max_running, concurrency_fail_open, updated_at)"
            " select id, 1e6, 1e9, false, 2, true, now() from tenants_tenant where slug = 'flood'"
        )
        alone = scenario(url, conn, None)
        limited = scenario(url, conn, 2)
        unlimited = scenario(url, conn, 1000)
    result = {
        "b_tasks": B_TASKS,
        "a_tasks": A_TASKS,
        "alone_p95_s": alone["p95_s"],
        "limited_p95_s": limited["p95_s"],
        "limited_flood_done": limited["flood_completed"],
        "unlimited_p95_s": unlimited["p95_s"],
        "unlimited_flood_done": unlimited["flood_completed"],
    }
    print(
        f"fairness: B p95 alone {alone['p95_s']:.2f} s; with A's flood (limit 2)"
        f" {limited['p95_s']:.2f} s ({limited['p95_s'] / alone['p95_s']:.1f}x),"
        f" A done by then {limited['flood_completed']}/{A_TASKS};"
        f" without a limit {unlimited['p95_s']:.2f} s"
        f" ({unlimited['p95_s'] / alone['p95_s']:.1f}x), A done {unlimited['flood_completed']}"
    )
    return result


if __name__ == "__main__":
    run()
