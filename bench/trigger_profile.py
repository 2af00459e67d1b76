"""Where the lifecycle triggers' time goes, per two-step task (issue 20, item 4).

One connection does what a worker's SQL does for N two-step tasks (claims of 8, two
checkpoints, complete_run), with track_functions = all, three ways in alternating rounds:
our lifecycle triggers on, off, and on again. For each way: the backend's CPU per task (from
/proc, the server runs on this machine) and, with the triggers on, every function's self
time per task (pg_stat_user_functions), so a change to lifecycle.sql or throughput.sql can
be judged by the microseconds it removes.

    python -m bench.trigger_profile [--tasks 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.common import (
    connect,
    fresh_database,
    reset_queue,
    set_lifecycle_triggers,
    spawn_two_steps,
)

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def drain(tasks: int, triggers: bool) -> tuple[float, float, dict]:
    """(backend CPU ms per task, wall ms per task, {function: self µs per task})."""
    with connect() as conn:
        reset_queue(conn)
        set_lifecycle_triggers(conn, triggers)
        spawn_two_steps(conn, tasks)
        conn.execute("analyze absurd.t_demo, absurd.r_demo")
    with connect() as conn:
        conn.execute("select pg_stat_reset()")
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        cpu0, wall0 = _cpu(pid), time.perf_counter()
        while True:
            rows = conn.execute(
                "select run_id, task_id from absurd.claim_task('demo', 'prof', 60, 8)"
            ).fetchall()
            if not rows:
                break
            for run_id, task_id in rows:
                for step in ("increment", "double"):
                    conn.execute(
                        "select absurd.set_task_checkpoint_state("
                        "'demo', %s, %s, '1'::jsonb, %s, 60)",
                        (task_id, step, run_id),
                    )
                conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))
        wall, cpu = time.perf_counter() - wall0, _cpu(pid) - cpu0
        conn.execute("select pg_stat_force_next_flush()")
    with connect() as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        functions = {
            f"{schema}.{name}": self_ms * 1000 / tasks
            for schema, name, self_ms in conn.execute(
                "select schemaname, funcname, sum(self_time) from pg_stat_user_functions"
                " group by 1, 2"
            ).fetchall()
        }
    return cpu * 1000 / tasks, wall * 1000 / tasks, functions


def run(tasks: int = 2000, rounds: int = 3) -> dict:
    fresh_database()
    with connect() as conn:
        conn.execute("alter database absurd_bench set track_functions = 'all'")
    drain(min(tasks, 500), True)  # warm-up, untimed
    on, off = [], []
    for index in range(rounds):
        for which in (True, False) if index % 2 == 0 else (False, True):
            (on if which else off).append(drain(tasks, which))
    cpu_on = statistics.median(d[0] for d in on)
    cpu_off = statistics.median(d[0] for d in off)
    print(
        f"backend CPU per task: triggers on {cpu_on:.3f} ms, off {cpu_off:.3f} ms,"
        f" triggers' share {cpu_on - cpu_off:.3f} ms"
    )
    print(
        f"wall per task:        on {statistics.median(d[1] for d in on):.3f} ms,"
        f" off {statistics.median(d[1] for d in off):.3f} ms"
    )
    names = sorted(
        {n for d in on for n in d[2]},
        key=lambda n: -statistics.median(d[2].get(n, 0.0) for d in on),
    )
    print("self time per task, triggers on (µs, median of rounds):")
    for name in names[:25]:
        print(f"  {statistics.median(d[2].get(name, 0.0) for d in on):8.1f}  {name}")
    return {"cpu_on_ms": cpu_on, "cpu_off_ms": cpu_off}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.tasks, args.rounds)


if __name__ == "__main__":
    main()
