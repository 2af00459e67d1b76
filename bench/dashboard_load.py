"""Bulk data for bench/dashboard.py: a million tasks, set-based, in a few minutes.

Rows are written the way the engine's own functions write them (spawn_task,
claim_task, complete_run, fail_run, cancel_task), but with one INSERT ... SELECT
over generate_series per table and queue, never one spawn at a time. Our
lifecycle triggers are disabled during the load (they would log each row one
by one) and their rows are written set-based instead: one event-log row per
task (its latest transition) and one open dead letter per failed task.

Task ids are UUIDv7 built from each task's spawn time (PostgreSQL 18's
``uuidv7(shift)``), spread evenly over the last ``DAYS`` days, so task-id order
is spawn order, as on a real queue.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

QUEUES = ("orders", "emails", "reports")
TENANTS = ("acme", "globex")
DAYS = 30
#: Task names per queue and their share (percent); the last one is rare on purpose.
NAMES = (("charge", 60), ("refund", 25), ("notify", 14), ("audit", 1))

# State by (hash % 100): most tasks are history, a backlog is pending.
STATE_CASE = """case
  when b < 80 then 'completed' when b < 85 then 'failed' when b < 88 then 'cancelled'
  when b < 95 then 'pending' when b < 97 then 'running' else 'sleeping' end"""

TRIGGERED = ("t_", "r_", "e_")


def _name_case(queue: str) -> str:
    parts, upper = [], 0
    for name, share in NAMES:
        upper += share
        parts.append(f"when n < {upper} then '{queue}.{name}'")
    return "case " + " ".join(parts) + " end"


def _triggers(conn: psycopg.Connection, queue: str, enabled: bool) -> None:
    action = sql.SQL("enable" if enabled else "disable")
    for prefix in TRIGGERED:
        conn.execute(
            sql.SQL("alter table absurd.{} {} trigger user").format(
                sql.Identifier(f"{prefix}{queue}"), action
            )
        )


def load_queue(conn: psycopg.Connection, queue: str, count: int, salt: int) -> None:
    tasks, runs = sql.Identifier(f"t_{queue}"), sql.Identifier(f"r_{queue}")
    checkpoints = sql.Identifier(f"c_{queue}")
    step = DAYS * 86400.0 / count
    conn.execute("drop table if exists bench_seed")
    # One row per task: its number g, spawn time, tenant, state and name
    # (pseudo-random per queue: hashes salted by the queue's index).
    conn.execute(
        sql.SQL(
            "create unlogged table bench_seed as"
            " select g, ts, tenant, b, {state} as state, {name} as task_name,"
            " uuidv7(ts - clock_timestamp()) as task_id,"
            " uuidv7(ts + interval '2 seconds' - clock_timestamp()) as run_id"
            " from (select g, now() - make_interval(secs => (%s - g) * %s) as ts,"
            "  (array[%s, %s])[1 + abs(hashint4(g * 3 + %s)) %% 2] as tenant,"
            "  abs(hashint4(g * 5 + %s)) %% 100 as b, abs(hashint4(g * 7 + %s)) %% 100 as n"
            "  from generate_series(1, %s) g) s"
        ).format(state=sql.SQL(STATE_CASE), name=sql.SQL(_name_case(queue))),
        (count, step, *TENANTS, salt, salt, salt, count),
    )
    conn.execute(
        sql.SQL(
            "insert into absurd.{tasks} (task_id, task_name, params, headers, max_attempts,"
            " enqueue_at, first_started_at, state, attempts, last_attempt_run,"
            " completed_payload, cancelled_at, idempotency_key)"
            " select task_id, task_name, jsonb_build_object('order_id', g, 'customer',"
            " 'c' || (g %% 5000), 'region', (array['eu', 'us', 'apac'])[1 + g %% 3]),"
            " jsonb_build_object('tenant', tenant), 3, ts,"
            " case when state <> 'pending' then ts + interval '1 second' end, state,"
            " case when state = 'failed' then 3 else 1 end, run_id,"
            " case when state = 'completed' then '{{\"ok\": true}}'::jsonb end,"
            " case when state = 'cancelled' then ts + interval '5 seconds' end,"
            " case when g %% 10 = 0 then tenant || '/key-' || g end"
            " from bench_seed order by task_id"
        ).format(tasks=tasks),
        (),
    )
    # The current run of every task (a failed task's third attempt).
    conn.execute(
        sql.SQL(
            "insert into absurd.{runs} (run_id, task_id, attempt, state, claimed_by,"
            " claim_expires_at, available_at, wake_event, started_at, completed_at, failed_at,"
            " result, failure_reason, created_at)"
            " select run_id, task_id, case when state = 'failed' then 3 else 1 end, state,"
            " case when state <> 'pending' then 'bench-worker' end,"
            " case when state = 'running' then now() + interval '1 day' end,"
            " case when state = 'sleeping' and g %% 2 = 0 then 'infinity'"
            "      when state = 'sleeping' then now() + interval '1 day' else ts end,"
            " case when state = 'sleeping' and g %% 2 = 0 then 'approval:' || g end,"
            " case when state <> 'pending' then ts + interval '1 second' end,"
            " case when state = 'completed' then ts + interval '3 seconds' end,"
            " case when state = 'failed' then ts + interval '3 seconds' end,"
            " case when state = 'completed' then '{{\"ok\": true}}'::jsonb end,"
            " case when state = 'failed' then jsonb_build_object('name', 'ValueError',"
            " 'message', 'boom ' || (g %% 7)) end, ts"
            " from bench_seed order by run_id"
        ).format(runs=runs),
        (),
    )
    # A failed task's two earlier attempts.
    conn.execute(
        sql.SQL(
            "insert into absurd.{runs} (run_id, task_id, attempt, state, claimed_by,"
            " available_at, started_at, failed_at, failure_reason, created_at)"
            " select uuidv7(ts + make_interval(secs => a - 1) - clock_timestamp()), task_id, a,"
            " 'failed', 'bench-worker', ts, ts, ts + make_interval(secs => a),"
            " jsonb_build_object('name', 'ValueError', 'message', 'boom ' || (g %% 7)), ts"
            " from bench_seed, generate_series(1, 2) a where state = 'failed'"
        ).format(runs=runs),
        (),
    )
    # Two checkpoints for one task in ten that ran.
    conn.execute(
        sql.SQL(
            "insert into absurd.{c} (task_id, checkpoint_name, state, owner_run_id, updated_at)"
            " select task_id, step, jsonb_build_object('value', g), run_id,"
            " ts + interval '2 seconds' from bench_seed, unnest(array['fetch', 'store']) step"
            " where g %% 10 = 1 and state <> 'pending'"
        ).format(c=checkpoints),
        (),
    )
    # The event log: each task's latest transition, as the triggers would have written it.
    conn.execute(
        "insert into absurd_control_task_event (tenant, queue, task_id, run_id, attempt, kind,"
        " from_state, to_state, reason, created_at)"
        " select tenant, %s, task_id, run_id, case when state = 'failed' then 3 else 1 end,"
        " case state when 'pending' then 'spawned' when 'running' then 'claimed'"
        "  else state end,"
        " case when state <> 'pending' then"
        "  case when state in ('running', 'cancelled') then 'pending' else 'running' end end,"
        " state, case when state = 'failed' then 'ValueError: boom ' || (g %% 7) end,"
        " ts + interval '3 seconds'"
        " from bench_seed order by ts",
        (queue,),
    )
    conn.execute(
        "insert into absurd_control_dead_letter (tenant, queue, task_id, task_name, error_name,"
        " error_message, attempts, failed_at, state)"
        " select tenant, %s, task_id, task_name, 'ValueError', 'boom ' || (g %% 7), 3,"
        " ts + interval '3 seconds', 'open'"
        " from bench_seed where state = 'failed' order by ts",
        (queue,),
    )
    conn.execute("drop table bench_seed")


def load(conn: psycopg.Connection, tasks: int = 1_000_000) -> dict:
    """Create the queues and fill them; returns {"tasks", "seconds", "runs", ...}."""
    started = time.monotonic()
    conn.execute(
        "insert into tenants_tenant (slug, name, is_platform, active, created_at)"
        " select slug, initcap(slug), false, true, now() from unnest(%s::text[]) slug"
        " on conflict do nothing",
        (list(TENANTS),),
    )
    per_queue = tasks // len(QUEUES)
    for index, queue in enumerate(QUEUES):
        conn.execute("select absurd.create_queue(%s)", (queue,))
        conn.execute("select absurd_control.install_queue(%s)", (queue,))
        _triggers(conn, queue, False)
        try:
            load_queue(conn, queue, per_queue, index * 1_000_003)
        finally:
            _triggers(conn, queue, True)
    # The chart's aggregates: the lifecycle trigger counts as tasks finish; rows written
    # into the event log directly, as here, are counted by a rebuild.
    conn.execute("select absurd_control.rebuild_throughput()")
    loaded = time.monotonic() - started
    for queue in QUEUES:
        for prefix in ("t_", "r_", "c_"):
            conn.execute(
                sql.SQL("vacuum analyze absurd.{}").format(sql.Identifier(f"{prefix}{queue}"))
            )
    conn.execute("vacuum analyze absurd_control_task_event")
    conn.execute("vacuum analyze absurd_control_dead_letter")
    total = time.monotonic() - started
    counts = {}
    for queue in QUEUES:
        counts[queue] = conn.execute(
            sql.SQL("select count(*) from absurd.{}").format(sql.Identifier(f"r_{queue}"))
        ).fetchone()[0]
    return {
        "tasks": per_queue * len(QUEUES),
        "runs": sum(counts.values()),
        "insert_seconds": loaded,
        "load_seconds": total,
    }
