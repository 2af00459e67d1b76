"""Growing past one worker and past one table (issue 21; docs/scaling.md).

1. Worker curve: drain SCALE_TASKS ``demo.two_steps`` tasks with 1, 2 and 4 ``runworker``
   processes on this host (concurrency 4 each) and with 2 worker hosts in network
   namespaces (tests/hosts/netns.py: TCP through a veth link, as from another machine),
   in alternating rounds (1, 2, 4, hosts, hosts, 4, 2, 1; means). Each drain also measures
   the CPU seconds the workers and the database server spent, per task: where the
   database becomes the limit, and what a bigger server predicts.
2. Partitioned queue: SCALE_PARTITION_TASKS finished tasks (default 2,000,000) spread over
   eight weeks, once in an unpartitioned queue and once in a partitioned one, plus 2,000
   pending tasks each. Claim cost (``absurd.claim_task`` of one run, alternating between
   the queues; median and p95) and the Runs page filtered to the queue (p95, as a platform
   user and as a tenant member), partitioned against unpartitioned in the same run.

    python -m bench.scale                                   # the committed sizes
    SCALE_TASKS=1500 SCALE_PARTITION_TASKS=200000 python -m bench.scale   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager

import psutil
from psycopg import sql

from bench.common import (
    BENCH_DB,
    ROOT,
    connect,
    count_state,
    fresh_database,
    ratio,
    reset_queue,
    runworker,
    server_params,
    spawn_two_steps,
    wait_until,
    worker_env,
)

TASKS = int(os.environ.get("SCALE_TASKS", "3000"))
PARTITION_TASKS = int(os.environ.get("SCALE_PARTITION_TASKS", "2000000"))
CONCURRENCY = 4
PENDING = 2000
CLAIMS = 300
PAGE_REQUESTS = 40


# -- CPU accounting ---------------------------------------------------------------------------


def _server_processes() -> list[psutil.Process]:
    """The database server's processes (the postmaster and its children) now."""
    with connect() as conn:
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
        postmaster = psutil.Process(backend).parent()
    return [postmaster, *postmaster.children(recursive=True)]


def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
    seen = {}
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        seen[proc.pid] = times.user + times.system
    return seen


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


# -- 1. the worker curve ----------------------------------------------------------------------


@contextmanager
def local_workers(url: str, count: int):
    with ExitStack() as stack:
        procs = [stack.enter_context(runworker(url, CONCURRENCY)) for _ in range(count)]
        yield [psutil.Process(p.pid) for p in procs], []


@contextmanager
def host_workers(url: str, hosts: int):
    from tests.hosts import netns

    params = server_params()
    server = netns.Server(
        host=params["host"] or "localhost",
        port=int(params["port"] or 5432),
        dbname=BENCH_DB,
        user=params["user"],
        password=params["password"] or "",
    )
    env = {k: v for k, v in worker_env(url).items() if k != "DATABASE_URL"}
    with netns.Lab(server, env=env) as lab:
        names = []
        for _ in range(hosts):
            host = lab.add_host()
            names.append(host.name)
            lab.worker(host, "--concurrency", str(CONCURRENCY))
        with connect() as conn:
            wait_until(
                lambda: (
                    conn.execute(
                        "select count(*) from absurd_control_worker"
                        " where host = any(%s) and stopped_at is null",
                        (names,),
                    ).fetchone()[0]
                    == hosts
                ),
                timeout=120,
                interval=0.1,
            )
        relays = [psutil.Process(h.relay.pid) for h in lab.hosts if h.relay is not None]
        yield [psutil.Process(w.proc.pid) for w in lab.workers], relays


def drain(workers_cm, tasks: int) -> dict:
    """Tasks per second, and CPU seconds per task of the workers, the database server and
    (namespaced hosts) the TCP relays, from the spawn until the last task completed."""
    with connect() as conn:
        reset_queue(conn)
        with workers_cm as (workers, relays):
            server = _server_processes()
            before = (_cpu(workers), _cpu(server), _cpu(relays))
            started = time.monotonic()
            spawn_two_steps(conn, tasks)
            wait_until(lambda: count_state(conn, "completed") >= tasks, timeout=900)
            elapsed = time.monotonic() - started
            server = _server_processes()
            after = (_cpu(workers), _cpu(server), _cpu(relays))
    worker_cpu, db_cpu, relay_cpu = (_delta(b, a) for b, a in zip(before, after, strict=True))
    return {
        "tps": tasks / elapsed,
        "worker_ms_per_task": worker_cpu / tasks * 1000,
        "db_ms_per_task": db_cpu / tasks * 1000,
        "relay_ms_per_task": relay_cpu / tasks * 1000,
    }


def worker_curve(url: str, tasks: int, hosts_ok: bool) -> dict:
    setups = {
        "1 process": lambda: local_workers(url, 1),
        "2 processes": lambda: local_workers(url, 2),
        "4 processes": lambda: local_workers(url, 4),
    }
    if hosts_ok:
        setups["2 hosts (netns)"] = lambda: host_workers(url, 2)
    drain(local_workers(url, 1), min(tasks, 1000))  # untimed warm-up
    order = list(setups) + list(reversed(setups))
    samples: dict[str, list[dict]] = {name: [] for name in setups}
    for name in order:
        samples[name].append(drain(setups[name](), tasks))
    curve = {}
    for name, runs in samples.items():
        curve[name] = {key: statistics.mean(r[key] for r in runs) for key in runs[0]}
    return curve


# -- 2. the partitioned queue -----------------------------------------------------------------

#: A UUIDv7 for row g of n, its time spread evenly over the last eight weeks; ``salt`` makes
#: the run id differ from the task id while staying in the same week (same time prefix).
_UUID = sql.SQL(
    "(lpad(to_hex((extract(epoch from now() - (g::double precision / %(n)s)"
    " * interval '56 days') * 1000)::bigint), 12, '0') || '7'"
    " || substr(md5(g::text || {salt}), 1, 3) || '8'"
    " || substr(md5(g::text || {salt} || 'x'), 1, 15))::uuid"
)

HISTORY_SQL = sql.SQL(
    "insert into absurd.{tasks} (task_id, task_name, params, headers, state, attempts,"
    " last_attempt_run, enqueue_at)"
    " select {task_id}, case when mod(g, 100) = 0 then 'orders.audit'"
    " else 'demo.two_steps' end, jsonb_build_object('i', g),"
    " jsonb_build_object('tenant', case when mod(g, 2) = 0 then 'acme' else 'globex' end),"
    " case when mod(g, 100) = 7 then 'failed' else 'completed' end, 1,"
    " {run_id}, now() - (g::double precision / %(n)s) * interval '56 days'"
    " from generate_series(1, %(n)s) g"
)


def fill(conn, queue: str, n: int, partitioned: bool) -> None:
    conn.execute("select absurd.drop_queue(%s)", (queue,))
    conn.execute(
        "select absurd.create_queue(%s, %s)",
        (queue, "partitioned" if partitioned else "unpartitioned"),
    )
    if partitioned:
        conn.execute(
            'select absurd.set_queue_policy(%s, \'{"partition_lookback": "63 days"}\'::jsonb)',
            (queue,),
        )
        conn.execute("select absurd.ensure_partitions(%s)", (queue,))
    conn.execute("select absurd_control.install_queue(%s)", (queue,))
    tasks, runs = sql.Identifier(f"t_{queue}"), sql.Identifier(f"r_{queue}")
    # History, as a long-lived queue has it; the lifecycle triggers would log each row.
    conn.execute("set session_replication_role = replica")
    conn.execute(
        HISTORY_SQL.format(
            tasks=tasks,
            task_id=_UUID.format(salt=sql.Literal("t")),
            run_id=_UUID.format(salt=sql.Literal("r")),
        ),
        {"n": n},
    )
    conn.execute(
        sql.SQL(
            "insert into absurd.{} (run_id, task_id, attempt, state, available_at, completed_at)"
            " select last_attempt_run, task_id, 1, state, enqueue_at, enqueue_at from absurd.{}"
        ).format(runs, tasks)
    )
    conn.execute("set session_replication_role = origin")
    for table in (tasks, runs):
        conn.execute(sql.SQL("vacuum analyze absurd.{}").format(table))
    spawn_two_steps(conn, PENDING, queue=queue)
    conn.execute(sql.SQL("analyze absurd.{}").format(runs))


def _pct(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def claim_cost(queues: list[str]) -> dict:
    samples: dict[str, list[float]] = {q: [] for q in queues}
    with connect() as conn:
        for i in range(CLAIMS):
            for queue in queues if i % 2 == 0 else list(reversed(queues)):
                started = time.perf_counter()
                row = conn.execute(
                    "select run_id from absurd.claim_task(%s, 'bench-claims', 60, 1)", (queue,)
                ).fetchone()
                samples[queue].append(time.perf_counter() - started)
                conn.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", (queue, row[0]))
    return {q: _pct(s) for q, s in samples.items()}


def pages_child(queues: list[str]) -> dict:
    """In a child process whose DATABASE_URL is the bench database: the Runs page filtered
    to each queue, alternating, as a platform user and as a tenant member."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from tenants.models import Membership, Tenant

    setup_test_environment()
    users = get_user_model().objects
    root = users.filter(username="scale-root").first() or users.create_superuser(
        "scale-root", "root@example.com"
    )
    member = users.filter(username="scale-acme").first()
    if member is None:
        member = users.create_user("scale-acme")
        tenant, _ = Tenant.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
        Membership.objects.create(user=member, tenant=tenant, role="admin")
    results = {}
    for label, user in (("all tenants", root), ("tenant acme", member)):
        client = Client()
        client.force_login(user)
        samples: dict[str, list[float]] = {q: [] for q in queues}
        for queue in queues:  # warm-up
            client.get(reverse("dashboard:runs"), {"queue": queue})
        for i in range(PAGE_REQUESTS):
            for queue in queues if i % 2 == 0 else list(reversed(queues)):
                started = time.perf_counter()
                response = client.get(reverse("dashboard:runs"), {"queue": queue})
                samples[queue].append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
        results[label] = {q: _pct(s) for q, s in samples.items()}
    return results


def partitioned_queue(url: str, n: int) -> dict:
    queues = ["flat", "parted"]
    with connect() as conn:
        started = time.monotonic()
        fill(conn, "flat", n, partitioned=False)
        fill(conn, "parted", n, partitioned=True)
        fill_s = time.monotonic() - started
        weeks = conn.execute(
            "select count(*) from absurd_control.queue_partitions('parted') where prefix = 't'"
        ).fetchone()[0]
    claims = claim_cost(queues)
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--child", "pages"],
        cwd=ROOT,
        env=worker_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    pages = json.loads(out.stdout.strip().splitlines()[-1])
    with connect() as conn:
        for queue in queues:
            conn.execute("select absurd.drop_queue(%s)", (queue,))
    return {"tasks": n, "fill_s": fill_s, "weeks": weeks, "claims": claims, "pages": pages}


# -- the run ----------------------------------------------------------------------------------


def run(tasks: int = TASKS, partition_tasks: int = PARTITION_TASKS) -> dict:
    from tests.hosts import netns

    url = fresh_database()
    why = netns.unavailable()
    if why:
        print(f"scale: NO WORKER HOSTS IN NAMESPACES: {why}")
    curve = worker_curve(url, tasks, hosts_ok=why is None)
    part = partitioned_queue(url, partition_tasks)
    one = curve["1 process"]
    best = max(curve.values(), key=lambda r: r["tps"])
    db_ms = statistics.mean(r["db_ms_per_task"] for r in curve.values())
    worker_ms = statistics.mean(r["worker_ms_per_task"] for r in curve.values())
    results = {
        "tasks": tasks,
        "cores": os.cpu_count(),
        "curve": curve,
        "scaling_2": ratio(curve["2 processes"]["tps"], one["tps"]),
        "scaling_4": ratio(curve["4 processes"]["tps"], one["tps"]),
        "hosts_vs_local": (
            ratio(curve["2 hosts (netns)"]["tps"], curve["2 processes"]["tps"])
            if "2 hosts (netns)" in curve
            else None
        ),
        "db_ms_per_task": db_ms,
        "worker_ms_per_task": worker_ms,
        # A database server with C cores for itself tops out near C / (its CPU per task),
        # and needs about (that rate x worker CPU per task) cores of workers.
        "db_bound_tps_per_core": 1000 / db_ms if db_ms else float("inf"),
        "workers_cores_per_db_core": worker_ms / db_ms if db_ms else float("inf"),
        "best_tps": best["tps"],
        "partitioned": part,
        "claim_p50_ratio": ratio(
            part["claims"]["parted"]["p50_ms"], part["claims"]["flat"]["p50_ms"]
        ),
        "runs_p95_ratio": ratio(
            part["pages"]["all tenants"]["parted"]["p95_ms"],
            part["pages"]["all tenants"]["flat"]["p95_ms"],
        ),
    }
    print(f"scale: worker curve, {tasks} demo.two_steps tasks, concurrency {CONCURRENCY} each")
    for name, r in curve.items():
        print(
            f"  {name:18s} {r['tps']:7.0f} tasks/s  CPU per task: workers"
            f" {r['worker_ms_per_task']:.2f} ms, database {r['db_ms_per_task']:.2f} ms,"
            f" relays {r['relay_ms_per_task']:.2f} ms"
        )
    print(
        f"  2 processes / 1: {results['scaling_2']:.2f}, 4 / 1: {results['scaling_4']:.2f}"
        + (
            f", 2 hosts / 2 local processes: {results['hosts_vs_local']:.2f}"
            if results["hosts_vs_local"]
            else ""
        )
    )
    print(
        f"  database CPU per task {db_ms:.2f} ms: about {results['db_bound_tps_per_core']:.0f}"
        f" tasks/s per database core; workers need {results['workers_cores_per_db_core']:.1f}"
        " cores per database core"
    )
    print(f"scale: {part['tasks']:,} finished tasks per queue ({part['weeks']} weekly partitions)")
    for queue, c in part["claims"].items():
        print(f"  claim_task, {queue:6s} p50 {c['p50_ms']:.2f} ms  p95 {c['p95_ms']:.2f} ms")
    for label, by_queue in part["pages"].items():
        for queue, p in by_queue.items():
            print(
                f"  runs page, {label}, {queue:6s}"
                f" p50 {p['p50_ms']:.1f} ms  p95 {p['p95_ms']:.1f} ms"
            )
    print(
        f"  partitioned / unpartitioned: claim p50 {results['claim_p50_ratio']:.2f},"
        f" runs page p95 {results['runs_p95_ratio']:.2f}"
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--partition-tasks", type=int, default=PARTITION_TASKS)
    parser.add_argument("--child", choices=["pages"])
    args = parser.parse_args()
    if args.child == "pages":
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        print(json.dumps(pages_child(["flat", "parted"])))
    else:
        run(args.tasks, args.partition_tasks)
