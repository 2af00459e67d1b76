"""What the overview chart's aggregates cost the completion path (issue 19, item 5).

The lifecycle trigger calls ``absurd_control.count_finished`` (absurd_core/sql/
throughput.sql), which upserts a minute and an hour bucket, and a duration-histogram bin,
for every finished task. This measures one connection claiming and completing ``TASKS``
tasks, one task per transaction (the worker's pattern, without the worker's Python around
it, so the counting's share is as large as it can be), with the counting on (A) and
replaced by a no-op (B), in alternating rounds (ABBA): tasks per second, medians, and the
ratio A/B from the same run.
"""

from __future__ import annotations

import statistics
import time

from bench.common import connect, fresh_database, ratio, reset_queue, spawn_two_steps

TASKS = 2000
ROUNDS = 4
COUNT = "absurd_control.count_finished(text, text, text, timestamptz, text, double precision)"
NO_OP = (
    "create or replace function absurd_control.count_finished(p_queue_name text,"
    " p_tenant text, p_kind text, p_at timestamptz, p_task_name text,"
    " p_ran_s double precision) returns void language plpgsql as $$ begin end $$"
)


def _drain(conn, tasks: int) -> float:
    started = time.perf_counter()
    for _ in range(tasks):
        (run_id,) = conn.execute(
            "select run_id from absurd.claim_task('demo', 'b', 60, 1)"
        ).fetchone()
        conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))
    return tasks / (time.perf_counter() - started)


def run(tasks: int = TASKS, rounds: int = ROUNDS) -> dict:
    fresh_database()
    results = {"on": [], "off": []}
    with connect() as conn:
        counting = conn.execute("select pg_get_functiondef(%s::regprocedure)", (COUNT,)).fetchone()[
            0
        ]
        order = ["on", "off", "off", "on"] * (rounds // 2)
        try:
            for which in order:
                reset_queue(conn)
                spawn_two_steps(conn, tasks)
                conn.execute(counting if which == "on" else NO_OP)
                results[which].append(_drain(conn, tasks))
        finally:
            conn.execute(counting)
    on, off = statistics.median(results["on"]), statistics.median(results["off"])
    out = {"tasks": tasks, "rounds": len(order), "with_tps": on, "without_tps": off,
           "cost": 1 - ratio(on, off)}  # fmt: skip
    print(
        f"chart aggregates: claim + complete, one task per transaction: {on:.0f} tasks/s with the"
        f" counting, {off:.0f} without (medians of {len(order) // 2} rounds each, ABBA):"
        f" {out['cost']:+.1%} cost",
        flush=True,
    )
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    run(args.tasks, args.rounds)
