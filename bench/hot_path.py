"""Issue 20's worker hot path, measured in alternating rounds on one server.

Each round drains N demo.two_steps tasks (concurrency 4) three ways:

(b)     runworker as shipped;
(b-off) runworker with the issue-20 changes switched off in the bench's worker process
        (BENCH_HOT_PATH=off, bench/_runworker.py: no lease-held look-up skip, no claim
        coalescing, no statistics watch): the same-run baseline of the changes;
(d)     the engine's SQL for this task shape without Python: claims of 8, two
        checkpoints, complete_run, four connections (worker_throughput.raw_ceiling).

For each drain: tasks/s, PostgreSQL CPU per task (every process of the server: the
postmaster's own and reaped children's time plus its live children's, from /proc, so
backends that exit are counted too), the worker process's CPU per task, and, from
pg_stat_user_functions (track_functions = all on the bench database), claim_task and
get_task_checkpoint_state calls per task. Then: enqueue -> start p50 of an idle worker
(tasks spawned one at a time), (b) and (b-off) alternating; the claim's cost with stale
and with fresh statistics after a bulk spawn on a queue with history; and complete_run's
cost with and without our lifecycle triggers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from contextlib import contextmanager

from bench.common import (
    add_history,
    connect,
    count_state,
    fresh_database,
    ratio,
    reset_queue,
    runworker,
    set_lifecycle_triggers,
    spawn_two_steps,
    wait_completed,
    wait_until,
)

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime (+ cutime + cstime) of a process, in seconds; 0 if it is gone."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the ")": state is index 0, utime 11, stime 12, cutime 13, cstime 14.
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total / TICK


def server_cpu(postmaster: int) -> float:
    """CPU of the whole PostgreSQL server: postmaster (with reaped children) + live children."""
    total = cpu_seconds(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[1]) == postmaster:
                    total += cpu_seconds(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return total


def postmaster_pid(conn) -> int:
    return int(_stat_fields(conn.execute("select pg_backend_pid()").fetchone()[0])[1])


FUNCTION_CALLS = """
select coalesce(sum(calls) filter (where funcname = 'claim_task'), 0),
       coalesce(sum(calls) filter (where funcname = 'get_task_checkpoint_state'), 0)
  from pg_stat_user_functions where schemaname = 'absurd'
"""


def function_calls(conn) -> tuple[int, int]:
    conn.execute("select pg_stat_clear_snapshot()")
    claims, lookups = conn.execute(FUNCTION_CALLS).fetchone()
    return int(claims), int(lookups)


def quiet(conn) -> None:
    """Wait until no worker backend is left (their function counts are flushed at exit)."""
    wait_until(
        lambda: (
            not conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and pid <> pg_backend_pid() and backend_type = 'client backend'"
            ).fetchone()[0]
        ),
        timeout=60,
    )


@contextmanager
def hot_path(off: bool):
    previous = os.environ.get("BENCH_HOT_PATH")
    if off:
        os.environ["BENCH_HOT_PATH"] = "off"
    else:
        os.environ.pop("BENCH_HOT_PATH", None)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("BENCH_HOT_PATH", None)
        else:
            os.environ["BENCH_HOT_PATH"] = previous


def drain_runworker(url: str, tasks: int, off: bool) -> dict:
    with connect() as conn:
        reset_queue(conn)
        quiet(conn)
        pm = postmaster_pid(conn)
        calls0 = function_calls(conn)
        with hot_path(off), runworker(url) as proc:
            cpu0, wcpu0 = server_cpu(pm), cpu_seconds(proc.pid)
            started = time.monotonic()
            spawn_two_steps(conn, tasks)
            wait_until(lambda: count_state(conn, "completed") >= tasks, timeout=600)
            elapsed = time.monotonic() - started
            cpu1, wcpu1 = server_cpu(pm), cpu_seconds(proc.pid)
        quiet(conn)
        calls1 = function_calls(conn)
    return {
        "tps": tasks / elapsed,
        "pg_ms": (cpu1 - cpu0) * 1000 / tasks,
        "py_ms": (wcpu1 - wcpu0) * 1000 / tasks,
        "claims": (calls1[0] - calls0[0]) / tasks,
        "lookups": (calls1[1] - calls0[1]) / tasks,
    }


def drain_engine_only(tasks: int) -> dict:
    from bench.worker_throughput import raw_ceiling

    with connect() as conn:
        quiet(conn)
        pm = postmaster_pid(conn)
        calls0 = function_calls(conn)
        cpu0 = server_cpu(pm)
        # raw_ceiling spawns first (untimed), then times the loops; the CPU window here
        # includes the spawn, so the spawn's cost is subtracted below from a spawn alone.
        tps = raw_ceiling(tasks, 0, connections=4, steps=True)
        cpu1 = server_cpu(pm)
        quiet(conn)
        calls1 = function_calls(conn)
        reset_queue(conn)
        set_lifecycle_triggers(conn, False)
        s0 = server_cpu(pm)
        spawn_two_steps(conn, tasks)
        spawn_cpu = server_cpu(pm) - s0
    return {
        "tps": tps,
        "pg_ms": (cpu1 - cpu0 - spawn_cpu) * 1000 / tasks,
        "py_ms": float("nan"),
        "claims": (calls1[0] - calls0[0]) / tasks,
        "lookups": (calls1[1] - calls0[1]) / tasks,
    }


def spawn_cpu_ms(tasks: int) -> float:
    """PostgreSQL CPU per task of the bulk spawn itself (inside the runworker window)."""
    with connect() as conn:
        reset_queue(conn)
        pm = postmaster_pid(conn)
        s0 = server_cpu(pm)
        spawn_two_steps(conn, tasks)
        return (server_cpu(pm) - s0) * 1000 / tasks


def idle_start_latency(url: str, tasks: int, off: bool) -> float:
    """Median ms from a task's enqueue to its run's start, one task at a time, idle worker."""
    with connect() as conn:
        reset_queue(conn)
        with hot_path(off), runworker(url):
            for i in range(tasks):
                task_id = conn.execute(
                    "select task_id from absurd.spawn_task('demo', 'demo.two_steps',"
                    ' jsonb_build_object(\'i\', %s), \'{"headers": {"tenant": "bench"}}\')',
                    (i,),
                ).fetchone()[0]
                wait_completed(conn, task_id)
        rows = conn.execute(
            "select extract(epoch from r.started_at - t.enqueue_at) * 1000"
            " from absurd.t_demo t join absurd.r_demo r on r.task_id = t.task_id"
            " where r.attempt = 1"
        ).fetchall()
    return statistics.median(row[0] for row in rows)


def claim_cost(history: int, spawned: int, claims: int = 200) -> tuple[float, float]:
    """ms per claim_task(qty 1) right after a bulk spawn: stale statistics, then analyzed."""
    with connect() as conn:
        reset_queue(conn)
        add_history(conn, history)  # analyzed: the planner expects no live run
        spawn_two_steps(conn, spawned)
        timings = []
        for _phase in ("stale", "fresh"):
            started = time.perf_counter()
            for _ in range(claims):
                conn.execute("select * from absurd.claim_task('demo', 'bench', 60, 1)")
            timings.append((time.perf_counter() - started) * 1000 / claims)
            conn.execute("analyze absurd.r_demo")
            conn.execute("analyze absurd.t_demo")
        return timings[0], timings[1]


def complete_cost(runs: int, triggers: bool) -> float:
    """ms per complete_run, our lifecycle triggers on or off."""
    with connect() as conn:
        reset_queue(conn)
        set_lifecycle_triggers(conn, triggers)
        spawn_two_steps(conn, runs)
        claimed = conn.execute(
            "select run_id from absurd.claim_task('demo', 'bench', 600, %s)", (runs,)
        ).fetchall()
        started = time.perf_counter()
        for (run_id,) in claimed:
            conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))
        return (time.perf_counter() - started) * 1000 / len(claimed)


def run(tasks: int = 5000, rounds: int = 3, url: str | None = None) -> dict:
    url = url or fresh_database()
    with connect() as conn:
        conn.execute("alter database absurd_bench set track_functions = 'all'")
    drain_runworker(url, min(tasks, 1000), off=False)  # warm-up, untimed
    on, off, engine = [], [], []
    for index in range(rounds):
        # Alternate the order, so drift over the run does not favour one side.
        order = ("on", "off", "d") if index % 2 == 0 else ("d", "off", "on")
        for which in order:
            if which == "d":
                engine.append(drain_engine_only(tasks))
            else:
                (on if which == "on" else off).append(drain_runworker(url, tasks, which == "off"))
    spawn_ms = spawn_cpu_ms(tasks)
    for drains in (on, off):
        for drain in drains:
            drain["pg_ms"] -= spawn_ms  # the bulk spawn ran inside the worker's window
    lat_on, lat_off = [], []
    for index in range(2):
        for which in ("on", "off") if index == 0 else ("off", "on"):
            (lat_on if which == "on" else lat_off).append(
                idle_start_latency(url, 100, which == "off")
            )
    stale, fresh = claim_cost(100_000, tasks)
    complete_on = statistics.median(complete_cost(1000, True) for _ in range(3))
    complete_off = statistics.median(complete_cost(1000, False) for _ in range(3))

    def med(drains, key):
        return statistics.median(d[key] for d in drains)

    results = {
        "tasks": tasks,
        "rounds": rounds,
        **{f"on_{k}": med(on, k) for k in on[0]},
        **{f"off_{k}": med(off, k) for k in off[0]},
        **{f"d_{k}": med(engine, k) for k in engine[0] if k != "py_ms"},
        "start_p50_on_ms": statistics.median(lat_on),
        "start_p50_off_ms": statistics.median(lat_off),
        "claim_stale_ms": stale,
        "claim_fresh_ms": fresh,
        "complete_run_ms": complete_on,
        "complete_run_no_triggers_ms": complete_off,
    }
    results["b_vs_d"] = ratio(results["on_tps"], results["d_tps"])
    results["b_vs_off"] = ratio(results["on_tps"], results["off_tps"])
    r = results
    print(f"hot_path: {tasks} demo.two_steps tasks, concurrency 4, {rounds} alternating rounds")
    print(
        "  drain               tasks/s   PG CPU/task  worker CPU/task  claims/task  look-ups/task"
    )
    for label, key in (
        ("(b) runworker", "on"),
        ("(b-off) no issue-20", "off"),
        ("(d) engine SQL", "d"),
    ):
        py = r.get(f"{key}_py_ms")
        py_text = f"{py:10.2f} ms" if py is not None else "         -   "
        print(
            f"  {label:18s} {r[f'{key}_tps']:8.0f} {r[f'{key}_pg_ms']:9.2f} ms   {py_text}"
            f"    {r[f'{key}_claims']:8.2f}    {r[f'{key}_lookups']:8.2f}"
        )
    print(f"  b/d = {r['b_vs_d']:.2f} (target >= 0.75); b/b-off = {r['b_vs_off']:.2f}")
    print(f"  PG CPU per two-step task (b) {r['on_pg_ms']:.2f} ms (target <= 2.2)")
    print(f"  claims per task (b) {r['on_claims']:.2f} (target < 0.3), b-off {r['off_claims']:.2f}")
    print(
        f"  enqueue -> start p50, idle worker: {r['start_p50_on_ms']:.2f} ms"
        f" (b-off {r['start_p50_off_ms']:.2f} ms; must not rise)"
    )
    print(
        f"  claim after a bulk spawn on 100,000 finished tasks: {stale:.2f} ms stale,"
        f" {fresh:.2f} ms analyzed"
    )
    print(f"  complete_run: {complete_on:.2f} ms with our triggers, {complete_off:.2f} ms without")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.tasks, args.rounds)
