"""Recurring schedules: fire lateness with a running worker, and what 10,000 idle schedules
cost (issue 16).

(a) Lateness: 50 interval schedules (every 2 s) fired by one ``runworker`` until 200 slots
    have fired; lateness is the spawned task's ``enqueue_at`` minus its slot (database
    clock), p50 and p99. Target p99 <= 1 s. Baseline, same run: the worker's timed wake-up
    of sleeping runs (``demo.sleep``, claim minus wake time, bench/event_latency.py).
(b) Tick cost: with 10,000 enabled schedules, none due, the database time of one tick's
    statements (lock the due ones, read the next due time), and runworker's throughput on
    ``demo.two_steps`` with and without them (medians of alternating rounds). Target:
    throughput drop <= 5%.
"""

from __future__ import annotations

import statistics
import time

from bench.common import (
    connect,
    count_state,
    fresh_database,
    ratio,
    reset_queue,
    runworker,
    spawn_two_steps,
    wait_until,
)
from bench.event_latency import measure_timers, percentile

TENANT = "bench"

LATENESS_SQL = """
select extract(epoch from t.enqueue_at - (t.headers->>'absurd_control.slot')::timestamptz)
  from absurd.t_demo t
 where t.headers ? 'absurd_control.slot'
 order by t.enqueue_at
 limit %s
"""

INSERT_SQL = """
insert into absurd_control_schedule
  (tenant, name, task_name, queue, params, headers, cron, every_seconds, timezone, catch_up,
   catch_up_cap, jitter_seconds, enabled, code_owned, next_fire_at, due_at, fires, refusals,
   skipped)
select %(tenant)s, %(prefix)s || g, 'demo.two_steps', 'demo', '{}'::jsonb, '{}'::jsonb,
       %(cron)s, %(every)s, 'UTC', 'skip', 100, 0, true, false,
       %(first)s::timestamptz, %(first)s::timestamptz, 0, 0, 0
  from generate_series(1, %(count)s) g
"""


def _platform_tenant(conn) -> None:
    # A platform tenant is exempt from spawn limits: the bench measures lateness, not the limiter.
    conn.execute(
        "insert into tenants_tenant (slug, name, is_platform, active, created_at)"
        " values (%s, 'Bench', true, true, now()) on conflict do nothing",
        (TENANT,),
    )


def lateness(url: str, schedules: int = 50, fires: int = 200) -> list[float]:
    with connect() as conn:
        reset_queue(conn)
        _platform_tenant(conn)
        conn.execute("delete from absurd_control_schedule")
        with runworker(url, 4, "--poll-interval", "1"):
            first = conn.execute(
                "select to_timestamp(ceil(extract(epoch from now())) + 2)"
            ).fetchone()[0]
            conn.execute(
                INSERT_SQL,
                {"tenant": TENANT, "prefix": "every2-", "cron": None, "every": 2,
                 "first": first, "count": schedules},
            )  # fmt: skip
            wait_until(
                lambda: (
                    conn.execute(
                        "select count(*) from absurd.t_demo where headers ? 'absurd_control.slot'"
                    ).fetchone()[0]
                    >= fires
                ),
                timeout=120,
                interval=0.1,
            )
            conn.execute("update absurd_control_schedule set enabled = false")
        return [float(row[0]) * 1000 for row in conn.execute(LATENESS_SQL, (fires,)).fetchall()]


def tick_cost(conn, rounds: int = 200) -> float:
    """Milliseconds for one idle tick's statements, as the ticker runs them (the clock, the
    due schedules locked, the next due time), client round trips included."""
    from absurd_core.schedule_firing import DUE_SQL, NEXT_DUE_SQL, TICK_BATCH

    started = time.perf_counter()
    for _ in range(rounds):
        with conn.transaction():
            now = conn.execute("select absurd.current_time()").fetchone()[0]
            conn.execute(DUE_SQL, (now, TICK_BATCH)).fetchall()
        conn.execute(NEXT_DUE_SQL).fetchone()
    return (time.perf_counter() - started) / rounds * 1000


def drain(url: str, tasks: int) -> float:
    with connect() as conn:
        reset_queue(conn)
        with runworker(url, 4):
            started = time.monotonic()
            spawn_two_steps(conn, tasks)
            wait_until(lambda: count_state(conn, "completed") >= tasks, timeout=600)
            return tasks / (time.monotonic() - started)


def run(idle: int = 10_000, tasks: int = 1000, rounds: int = 3) -> dict:
    url = fresh_database()
    late = lateness(url)
    timers = measure_timers(url, 100)
    with connect() as conn:
        conn.execute("delete from absurd_control_schedule")
        empty_tick_ms = tick_cost(conn)
    without, with_idle = [], []
    for _ in range(rounds):
        with connect() as conn:
            conn.execute("delete from absurd_control_schedule")
        without.append(drain(url, tasks))
        with connect() as conn:
            conn.execute(
                INSERT_SQL,
                {"tenant": TENANT, "prefix": "yearly-", "cron": "0 0 1 1 *", "every": None,
                 "first": "2999-01-01T00:00:00Z", "count": idle},
            )  # fmt: skip
            conn.execute("analyze absurd_control_schedule")
        with_idle.append(drain(url, tasks))
    with connect() as conn:
        idle_tick_ms = tick_cost(conn)
    results = {
        "fires": len(late),
        "lateness_p50_ms": statistics.median(late),
        "lateness_p99_ms": percentile(late, 99),
        "timer_p50_ms": statistics.median(timers),
        "timer_p99_ms": percentile(timers, 99),
        "idle_schedules": idle,
        "empty_tick_ms": empty_tick_ms,
        "idle_tick_ms": idle_tick_ms,
        "tasks": tasks,
        "without_tps": statistics.median(without),
        "with_tps": statistics.median(with_idle),
    }
    results["lateness_p50_over_timer"] = ratio(results["lateness_p50_ms"], results["timer_p50_ms"])
    results["throughput_drop"] = 1 - ratio(results["with_tps"], results["without_tps"])
    print(
        f"schedules: {results['fires']} fires of 50 every-2-s schedules: lateness"
        f" p50 {results['lateness_p50_ms']:.1f} ms, p99 {results['lateness_p99_ms']:.1f} ms"
        f" (target p99 <= 1000 ms); baseline timed wake-up of sleeping runs p50"
        f" {results['timer_p50_ms']:.1f} ms, p99 {results['timer_p99_ms']:.1f} ms"
        f" (lateness p50 / timer p50 = {results['lateness_p50_over_timer']:.2f})"
    )
    print(
        f"  idle tick: {results['idle_tick_ms']:.2f} ms with {idle:,} schedules none due,"
        f" {results['empty_tick_ms']:.2f} ms with none"
        f" (ratio {ratio(results['idle_tick_ms'], results['empty_tick_ms']):.2f})"
    )
    print(
        f"  runworker on {tasks} demo.two_steps: {results['without_tps']:.0f} tasks/s without"
        f" schedules, {results['with_tps']:.0f} tasks/s with {idle:,} idle ones: drop"
        f" {results['throughput_drop']:.1%} (target <= 5%)"
    )
    return results


if __name__ == "__main__":
    run()
