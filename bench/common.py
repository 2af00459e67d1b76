"""Shared set-up for benchmarks: a fresh database on the same server, workers as processes.

Benchmarks are not tests: each prints its figures and ratios against baselines
measured in the same run, on the same database, and returns them for
bench/run_all.py, which writes docs/performance.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = "absurd_bench"
# The benchmarks run the demo tasks, and the demo plugin is not in the production default of
# PLUGINS (docs/deploy.md); every bench process and its workers inherit this.
os.environ.setdefault("PLUGINS", "plugins.email_notify,plugins.demo,plugins.metrics")


def server_params() -> dict:
    """Connection parameters of the server in use (DATABASE_URL or the embedded one)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("ABSURD_CONTROL_QUIET_DB", "1")
    import django
    from django.conf import settings

    django.setup()
    db = settings.DATABASES["default"]
    return {
        "user": db["USER"],
        "password": db.get("PASSWORD") or None,
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
    }


def dsn(dbname: str = BENCH_DB) -> str:
    p = server_params()
    host = p["host"] or "localhost"
    host = quote(host, safe="") if host.startswith("/") else host
    auth = quote(p["user"]) + (f":{quote(p['password'])}" if p["password"] else "")
    port = f":{p['port']}" if p["port"] else ""
    return f"postgres://{auth}@{host}{port}/{dbname}"


def connect(dbname: str = BENCH_DB) -> psycopg.Connection:
    return psycopg.connect(dsn(dbname), autocommit=True)


def fresh_database() -> str:
    """(Re)create the bench database and migrate it; returns its DATABASE_URL."""
    with connect("postgres") as conn:
        conn.execute(f"drop database if exists {BENCH_DB} with (force)")
        conn.execute(f"create database {BENCH_DB}")
    url = dsn()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0", "--skip-checks"],
        cwd=ROOT,
        env=worker_env(url),
        check=True,
    )
    return url


def worker_env(url: str) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=url, DEBUG="true", LOG_LEVEL="WARNING", ABSURD_CONTROL_QUIET_DB="1")
    return env


def reset_queue(conn: psycopg.Connection, queue: str = "demo") -> None:
    conn.execute("select absurd.drop_queue(%s)", (queue,))
    conn.execute("select absurd.create_queue(%s)", (queue,))
    conn.execute("select absurd_control.install_queue(%s)", (queue,))


LIFECYCLE_TRIGGERS = (
    ("t_", "absurd_control_task_insert"),
    ("t_", "absurd_control_task_update"),
    ("t_", "absurd_control_task_delete"),
    ("e_", "absurd_control_event_emitted"),
    ("e_", "absurd_control_event_delete"),
)


def set_lifecycle_triggers(conn: psycopg.Connection, enabled: bool, queue: str = "demo") -> None:
    """Enable or disable the event-log/dead-letter triggers (the worker wake-up stays on).

    Disabled, not dropped: the worker's housekeeping would re-create dropped ones.
    """
    action = sql.SQL("enable" if enabled else "disable")
    for prefix, name in LIFECYCLE_TRIGGERS:
        conn.execute(
            sql.SQL("alter table absurd.{} {} trigger {}").format(
                sql.Identifier(f"{prefix}{queue}"), action, sql.Identifier(name)
            )
        )


#: The params of each two-step variant for its i (g): ours take {"i": g}, the Django-API
#: one (demo.django_two_steps) Django's {"args": [], "kwargs": {"i": g}}.
TWO_STEP_PARAMS = {
    "demo.two_steps": "jsonb_build_object('i', g)",
    "demo.two_steps_async": "jsonb_build_object('i', g)",
    "demo.django_two_steps": "jsonb_build_object('args', '[]'::jsonb, 'kwargs',"
    " jsonb_build_object('i', g))",
}


def spawn_two_steps(
    conn: psycopg.Connection, count: int, queue: str = "demo", task: str = "demo.two_steps"
) -> None:
    """Spawn ``count`` two-step tasks (``task``, a TWO_STEP_PARAMS name) in one transaction."""
    conn.execute(
        sql.SQL(
            "select count(*) from generate_series(1, %s) g, lateral absurd.spawn_task(%s,"
            " %s, {},"
            ' \'{{"headers": {{"tenant": "bench"}}}}\'::jsonb)'
        ).format(sql.SQL(TWO_STEP_PARAMS[task])),
        (count, queue, task),
    )


def add_history(conn: psycopg.Connection, count: int, queue: str = "demo") -> None:
    """Insert ``count`` completed tasks and runs, as a long-lived queue would have."""
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
            "insert into absurd.{} (run_id, task_id, attempt, state, available_at, completed_at,"
            " result) select absurd.portable_uuidv7(), task_id, 1, 'completed',"
            " now() - interval '1 hour', now(), '{{}}'::jsonb from absurd.{}"
        ).format(runs, tasks)
    )
    conn.execute(sql.SQL("vacuum analyze absurd.{}").format(tasks))
    conn.execute(sql.SQL("vacuum analyze absurd.{}").format(runs))


def count_state(conn: psycopg.Connection, state: str, queue: str = "demo") -> int:
    query = sql.SQL("select count(*) from absurd.{} where state = %s").format(
        sql.Identifier(f"t_{queue}")
    )
    return conn.execute(query, (state,)).fetchone()[0]


def wait_until(condition, timeout: float, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark condition not met within {timeout}s")
        time.sleep(interval)


def wait_completed(conn: psycopg.Connection, task_id, timeout: float = 30) -> None:
    """Wait, polling every millisecond, until a demo task is completed."""
    wait_until(
        lambda: conn.execute(
            "select state = 'completed' from absurd.t_demo where task_id = %s", (task_id,)
        ).fetchone()[0],
        timeout=timeout,
        interval=0.001,
    )


@contextmanager
def process(args: list[str], env: dict, ready_line: str | None = None):
    """A worker process; waits for ``ready_line`` on stdout, terminates on exit."""
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        if ready_line:
            while True:
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{args} exited before it was ready")
                if ready_line in line:
                    break
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def runworker(url: str, concurrency: int = 4, *extra: str):
    env = worker_env(url)
    env["LOG_LEVEL"] = "INFO"  # worker.start is the ready line; _runworker.py drops task lines
    return process(
        [sys.executable, "bench/_runworker.py", "--concurrency", str(concurrency), *extra],
        env,
        ready_line="worker.ready",
    )


def sdk_worker(url: str, concurrency: int = 4):
    return process(
        [sys.executable, "bench/_sdk_worker.py", url, str(concurrency)],
        worker_env(url),
        ready_line="sdk.ready",
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")
