"""Planner statistics are refreshed right after a bulk spawn (worker/statistics.py).

The queue gets a history of finished tasks and is analyzed, so the planner expects
no live run; then a bulk spawn adds thousands of pending runs at once.
"""

from __future__ import annotations

import pytest
from psycopg import sql

from absurd_core import engine
from absurd_core.worker.statistics import live_runs_jumped, refresh_after_jump
from tests.helpers import WorkerProcess, raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_queue():
    """The demo tasks' queue, dropped after the test with the history it got here."""
    engine.create_queue("demo")
    yield "demo"
    engine.drop_queue("demo")


def add_history(conn, queue: str, count: int) -> None:
    tasks, runs = sql.Identifier(f"t_{queue}"), sql.Identifier(f"r_{queue}")
    conn.execute(
        sql.SQL(
            "insert into absurd.{} (task_id, task_name, params, state, attempts)"
            " select absurd.portable_uuidv7(), 'demo.two_steps', '{{}}'::jsonb, 'completed', 1"
            " from generate_series(1, %s)"
        ).format(tasks),
        (count,),
    )
    conn.execute(
        sql.SQL(
            "insert into absurd.{} (run_id, task_id, attempt, state, available_at, completed_at)"
            " select absurd.portable_uuidv7(), task_id, 1, 'completed', now(), now()"
            " from absurd.{}"
        ).format(runs, tasks)
    )
    # Report the inserts now, or they would count as changes made after the ANALYZE.
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute(sql.SQL("analyze absurd.{}").format(tasks))
    conn.execute(sql.SQL("analyze absurd.{}").format(runs))


def bulk_spawn(conn, queue: str, count: int, task: str = "demo.two_steps") -> None:
    conn.execute(
        "select count(*) from generate_series(1, %s) g, lateral absurd.spawn_task(%s, %s,"
        ' jsonb_build_object(\'i\', g), \'{"headers": {"tenant": "t1"}}\'::jsonb)',
        (count, queue, task),
    )


def analyze_count(conn, table: str) -> int:
    # The statistics view lags a little behind the ANALYZE that bumps it.
    conn.execute("select pg_stat_clear_snapshot()")
    return conn.execute(
        "select analyze_count from pg_stat_user_tables"
        " where schemaname = 'absurd' and relname = %s",
        (table,),
    ).fetchone()[0]


def test_a_bulk_spawn_on_a_queue_with_history_is_analyzed_once(queue_name):
    with raw_connection() as conn:
        add_history(conn, queue_name, 5000)
        bulk_spawn(conn, queue_name, 2000, task="test.complete")
        jumped, estimate, count = live_runs_jumped(conn, queue_name)
        # The planner, from statistics taken before the spawn, expects (almost) none.
        assert jumped and count >= 1000 and estimate * 4 < count  # counting stops there
        before = analyze_count(conn, f"r_{queue_name}")
        assert refresh_after_jump(conn, queue_name) == [f"r_{queue_name}", f"t_{queue_name}"]
        assert wait_for(lambda: analyze_count(conn, f"r_{queue_name}") > before, timeout=10)
        # Fresh now: the estimate is right, nothing more to do.
        jumped, estimate, _ = live_runs_jumped(conn, queue_name)
        assert not jumped and estimate > 1000
        assert refresh_after_jump(conn, queue_name) == []


def test_a_small_backlog_is_not_worth_an_analyze(queue_name):
    with raw_connection() as conn:
        add_history(conn, queue_name, 2000)
        bulk_spawn(conn, queue_name, 300, task="test.complete")
        assert live_runs_jumped(conn, queue_name)[0] is False
        assert refresh_after_jump(conn, queue_name) == []


def test_runworker_notices_the_jump_while_draining(demo_queue):
    with raw_connection() as conn:
        # Big enough that the housekeeping beat's rule (more changes than rows) stays quiet.
        add_history(conn, "demo", 20000)
        # Autovacuum could analyze the tables first (then there is no jump to see).
        for table in ("r_demo", "t_demo"):
            conn.execute(f"alter table absurd.{table} set (autovacuum_enabled = false)")
        with WorkerProcess("--queue", "demo", "--concurrency", "2") as worker:
            bulk_spawn(conn, "demo", 3000)
            wait_for(lambda: "live runs jumped" in worker.output, timeout=60)
            assert worker.stop() == 0
    assert "worker.analyzed table=absurd.r_demo (live runs jumped:" in worker.output
    assert "(statistics were stale)" not in worker.output  # it was the jump, not the beat
