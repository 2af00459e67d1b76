"""Child workflows: one parent fanning out to N children vs the same N tasks spawned flat,
and the join latency of the children wake-up event.

1. ``demo.fan_out`` with ``n`` = 1,000 (1,000 ``demo.square`` children started in one
   statement, then one wait) under ``runworker --concurrency 4``: seconds from the spawn to
   the parent completed. Baseline, same run, same database: 1,000 ``demo.square`` tasks
   spawned flat in one transaction and drained by the same worker. Target: the fan-out
   takes at most 1.3x the flat drain.
2. Where the fan-out's extra time goes: the same 1,000 children (a parent's headers, spawned
   in one statement by raw SQL, the parent never claimed) drained by the same worker, once
   with no wait registered (the trigger finds no wait row to count into) and once with one
   ``all`` wait over them (every child's end updates that one row). Both sides start the
   same number of children and run the same trigger; the ratio is the cost of counting.
3. Join latency: 100 parents, one at a time, each ``demo.fan_out`` with 3 children; from
   the last child's completion (its run's ``completed_at``) to the parent's next step (the
   outcome checkpoint written right after the wake-up), both on the database's clock.
   Target p50 <= 15 ms, and no parent run failed (a failed run is retried a retry delay
   later: the ~2 s p99 of a lock-order deadlock, docs/workflows.md). Baseline: the event
   wake-up of bench/event_latency.py, measured here the same way (emit ->
   ``demo.wait_event`` completed) for 100 tasks.

The tenant ``bench`` is a platform tenant: children count against a tenant's spawn rate
(a fan-out over the burst proceeds at the tenant's rate), which is not what this measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.common import connect, count_state, fresh_database, reset_queue, runworker, wait_until
from bench.event_latency import percentile

TENANT = '{"headers": {"tenant": "bench"}}'

JOIN_SQL = """
select extract(epoch from c.updated_at - (
         select max(r.completed_at) from absurd.t_demo k
           join absurd.r_demo r on r.run_id = k.last_attempt_run
          where k.headers->>'absurd_control.parent' = t.task_id::text)) * 1000
  from absurd.t_demo t
  join absurd.c_demo c on c.task_id = t.task_id and c.checkpoint_name like '$children_outcome:%%'
 where t.task_id = %s
"""

EMIT_SQL = """
select extract(epoch from r.completed_at - e.emitted_at) * 1000
  from absurd.t_demo t
  join absurd.r_demo r on r.run_id = t.last_attempt_run
  join absurd.e_demo e on e.event_name = 'tenant:bench:' || (t.params->>'event')
 where t.task_id = %s
"""


def _spawn(conn, task: str, params: dict):
    return conn.execute(
        "select task_id from absurd.spawn_task('demo', %s, %s::jsonb, %s::jsonb)",
        (task, json.dumps(params), TENANT),
    ).fetchone()[0]


def _state(conn, task_id) -> str:
    return conn.execute(
        "select state from absurd.t_demo where task_id = %s", (task_id,)
    ).fetchone()[0]


def flat(url: str, n: int) -> float:
    with connect() as conn:
        reset_queue(conn)
        with runworker(url, 4):
            start = time.monotonic()
            conn.execute(
                "select count(*) from generate_series(0, %s - 1) g, lateral absurd.spawn_task("
                "'demo', 'demo.square', jsonb_build_object('x', g), %s::jsonb)",
                (n, TENANT),
            )
            wait_until(lambda: count_state(conn, "completed") == n, timeout=600)
            return time.monotonic() - start


PHASES_SQL = """
select extract(epoch from s.updated_at - t.first_started_at),
       extract(epoch from (select max(r.completed_at) from absurd.t_demo k
                             join absurd.r_demo r on r.run_id = k.last_attempt_run
                            where k.headers->>'absurd_control.parent' = t.task_id::text)
                          - s.updated_at),
       extract(epoch from p.completed_at - (select max(r.completed_at) from absurd.t_demo k
                             join absurd.r_demo r on r.run_id = k.last_attempt_run
                            where k.headers->>'absurd_control.parent' = t.task_id::text))
  from absurd.t_demo t
  join absurd.c_demo s on s.task_id = t.task_id and s.checkpoint_name like '$children:%%'
  join absurd.r_demo p on p.run_id = t.last_attempt_run
 where t.task_id = %s
"""

PHASES: dict[str, float] = {}
JOIN_FAILURES: list[int] = []


def fan_out(url: str, n: int) -> float:
    with connect() as conn:
        reset_queue(conn)
        with runworker(url, 4):
            start = time.monotonic()
            parent = _spawn(conn, "demo.fan_out", {"n": n})
            wait_until(lambda: _state(conn, parent) in ("completed", "failed"), timeout=600)
            elapsed = time.monotonic() - start
            result = conn.execute(
                "select completed_payload from absurd.t_demo where task_id = %s", (parent,)
            ).fetchone()[0]
            assert result == {"n": n, "sum": sum(i * i for i in range(n))}, result
            spawning, draining, joining = conn.execute(PHASES_SQL, (parent,)).fetchone()
            PHASES.update(spawn_s=float(spawning), drain_s=float(draining), join_s=float(joining))
            return elapsed


def joins(url: str, parents: int) -> tuple[list[float], list[float]]:
    with connect() as conn:
        reset_queue(conn)
        with runworker(url, 4):
            join = []
            for _ in range(parents):
                parent = _spawn(conn, "demo.fan_out", {"n": 3})
                wait_until(
                    lambda p=parent: _state(conn, p) == "completed", timeout=60, interval=0.001
                )
                join.append(float(conn.execute(JOIN_SQL, (parent,)).fetchone()[0]))
            # A parent run that failed was retried (a deadlock with its last child's end
            # did this, and cost a retry delay: docs/workflows.md); none should.
            JOIN_FAILURES.append(
                conn.execute(
                    "select count(*) from absurd.r_demo r join absurd.t_demo t using (task_id)"
                    " where t.task_name = 'demo.fan_out' and r.state = 'failed'"
                ).fetchone()[0]
            )
            emit = []
            for i in range(parents):
                task = _spawn(conn, "demo.wait_event", {"event": f"join-{i}"})
                wait_until(lambda t=task: _state(conn, t) == "sleeping", timeout=60, interval=0.001)
                conn.execute(
                    "select absurd.emit_event('demo', %s, 'true'::jsonb)",
                    (f"tenant:bench:join-{i}",),
                )
                wait_until(
                    lambda t=task: _state(conn, t) == "completed", timeout=60, interval=0.001
                )
                emit.append(float(conn.execute(EMIT_SQL, (task,)).fetchone()[0]))
    return join, emit


def counting(url: str, n: int, wait: bool) -> float:
    """Drain n children of one never-claimed parent, with or without a wait over them."""
    with connect() as conn:
        reset_queue(conn)
        reset_queue(conn, "benchp")
        parent = conn.execute(
            "select task_id from absurd.spawn_task('benchp', 'ext.parent', '{}'::jsonb, %s::jsonb)",
            (TENANT,),
        ).fetchone()[0]
        headers = json.dumps(
            {
                "headers": {
                    "tenant": "bench",
                    "absurd_control.parent": str(parent),
                    "absurd_control.parent_queue": "benchp",
                    "absurd_control.root": str(parent),
                    "absurd_control.depth": 1,
                }
            }
        )
        with runworker(url, 4):
            with conn.transaction():
                ids = [
                    r[0]
                    for r in conn.execute(
                        "select s.task_id from generate_series(0, %s - 1) g, lateral"
                        " absurd.spawn_task('demo', 'demo.square', jsonb_build_object('x', g),"
                        " %s::jsonb) s",
                        (n, headers),
                    ).fetchall()
                ]
                if wait:
                    conn.execute(
                        "select absurd_control.register_child_wait('benchp', %s, %s, 'all',"
                        " %s, %s::jsonb)",
                        (
                            parent,
                            f"children:bench:{parent}",
                            n,
                            json.dumps([{"queue": "demo", "task_id": str(i)} for i in ids]),
                        ),
                    )
                start = time.monotonic()
            wait_until(lambda: count_state(conn, "completed") == n, timeout=600)
            elapsed = time.monotonic() - start
        if wait:  # the one event was emitted, on the parent's queue
            emitted = conn.execute(
                "select count(*) from absurd.e_benchp where event_name = %s",
                (f"children:bench:{parent}",),
            ).fetchone()[0]
            assert emitted == 1, emitted
        return elapsed


def run(children: int = 1000, parents: int = 100) -> dict:
    url = fresh_database()
    with connect() as conn:
        # A platform tenant (exempt from the spawn rate and the concurrency limit), so both
        # sides measure the engine and the children machinery, not the limiter.
        conn.execute(
            "insert into tenants_tenant (slug, name, is_platform, active, created_at)"
            " values ('bench', 'Bench', true, true, now())"
        )
    flat_s = flat(url, children)
    fan_s = fan_out(url, children)
    uncounted_s = counting(url, children, wait=False)
    counted_s = counting(url, children, wait=True)
    join, emit = joins(url, parents)
    results = {
        "children": children,
        "flat_s": flat_s,
        "fan_out_s": fan_s,
        "fan_over_flat": fan_s / flat_s,
        "uncounted_s": uncounted_s,
        "counted_s": counted_s,
        "counted_over_uncounted": counted_s / uncounted_s,
        "parents": parents,
        "join_p50_ms": statistics.median(join),
        "join_p99_ms": percentile(join, 99),
        "emit_p50_ms": statistics.median(emit),
        "emit_p99_ms": percentile(emit, 99),
    }
    print(f"fan_out: {children} children of one demo.fan_out vs {children} flat demo.square")
    print(f"  flat drain      {flat_s:7.2f} s")
    print(f"  fan-out parent  {fan_s:7.2f} s   fan-out / flat = {results['fan_over_flat']:.2f}"
          " (target <= 1.3)")  # fmt: skip
    results.update(PHASES)
    print(f"    phases: starting the children {PHASES['spawn_s']:.2f} s, draining them"
          f" {PHASES['drain_s']:.2f} s, last child -> parent completed"
          f" {PHASES['join_s']:.2f} s")  # fmt: skip
    print(f"  children drained, no wait {uncounted_s:7.2f} s; one 'all' wait counting them"
          f" {counted_s:7.2f} s;"
          f" counted / uncounted = {results['counted_over_uncounted']:.2f}")  # fmt: skip
    results["join_failed_runs"] = JOIN_FAILURES[-1]
    print(f"  join latency ({parents} parents): p50 {results['join_p50_ms']:.1f} ms,"
          f" p99 {results['join_p99_ms']:.1f} ms (target p50 <= 15);"
          f" parent runs failed and retried: {results['join_failed_runs']}")  # fmt: skip
    results["join_over_emit"] = results["join_p50_ms"] / results["emit_p50_ms"]
    print(f"  baseline event wake-up: p50 {results['emit_p50_ms']:.1f} ms,"
          f" p99 {results['emit_p99_ms']:.1f} ms;"
          f" join p50 / emit p50 = {results['join_over_emit']:.2f}")  # fmt: skip
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--parents", type=int, default=100)
    args = parser.parse_args()
    run(args.children, args.parents)
