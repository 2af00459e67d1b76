"""Dashboards from a streaming read replica (docs/scaling.md, "A read replica").

1. Load ``BENCH_REPLICA_TASKS`` tasks (default 1,000,000; bench/dashboard_load.py) into the
   bench database, then make a real hot standby of the server with ``pg_basebackup``
   (tests/replica.py) and wait until it has replayed everything.
2. Runs list: ``GET /runs/`` (first page, platform user, Django's test Client in-process with
   ``DATABASE_REPLICA_URL`` set) read from the replica, against the same request read from
   the primary (a read-your-writes cookie far ahead of the replica pins it there: the same
   code path, only the server differs); requests alternate; p50 and p95. Target: equal
   within noise.
3. runworker on the primary drains ``BENCH_REPLICA_WORKER_TASKS`` demo.two_steps tasks
   alone, and while a dashboard client refreshes the overview and the runs list from the
   replica every ``POLL_SECONDS``; ABBA rounds, medians. Target: >= 95% of the idle rate.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import quote

from bench.common import (
    BENCH_DB,
    ROOT,
    connect,
    count_state,
    fresh_database,
    process,
    ratio,
    reset_queue,
    runworker,
    server_params,
    spawn_two_steps,
    wait_until,
    worker_env,
)

TASKS = int(os.environ.get("BENCH_REPLICA_TASKS", "1000000"))
REQUESTS = int(os.environ.get("BENCH_REPLICA_REQUESTS", "40"))
WORKER_TASKS = int(os.environ.get("BENCH_REPLICA_WORKER_TASKS", "2000"))
WORKER_ROUNDS = int(os.environ.get("BENCH_REPLICA_ROUNDS", "4"))
POLL_SECONDS = 1.0
#: Far ahead of any WAL position: a cookie with it keeps the request on the primary.
FAR_AHEAD = "FFFFFFFF/FFFFFFFF"


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def _clients():
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core import signing
    from django.test import Client
    from django.test.utils import setup_test_environment

    from config.replica import PIN_COOKIE, PIN_SALT

    setup_test_environment()
    users = get_user_model().objects
    root = users.filter(username="bench-root").first() or users.create_superuser(
        "bench-root", "root@example.com"
    )
    replica, primary = Client(), Client()
    replica.force_login(root)
    primary.force_login(root)
    primary.cookies[PIN_COOKIE] = signing.get_cookie_signer(salt=PIN_COOKIE + PIN_SALT).sign(
        FAR_AHEAD
    )
    return replica, primary


def measure_runs(repeat: int) -> dict:
    """In a child with DATABASE_URL (primary) and DATABASE_REPLICA_URL set."""
    from django.urls import reverse

    replica, primary = _clients()
    from django.db import connections

    url = reverse("dashboard:runs")
    samples: dict[str, list[float]] = {"replica": [], "primary": []}
    routed: dict[str, set] = {"replica": set(), "primary": set()}

    def timed(side: str, client) -> None:
        started = time.perf_counter()
        response = client.get(url)
        samples[side].append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        status = response.wsgi_request.replica_status
        routed[side].add(bool(status and status.reachable and status.caught_up))

    for client in (replica, primary):
        client.get(url)  # warm-up
    for index in range(repeat):
        order = (("replica", replica), ("primary", primary))
        for side, client in order if index % 2 == 0 else reversed(order):
            timed(side, client)
    connections.close_all()
    assert routed == {"replica": {True}, "primary": {False}}, routed
    return {side: _percentiles(values) for side, values in samples.items()}


def poll_forever() -> None:
    from django.urls import reverse

    replica, _ = _clients()
    print("poll.ready", flush=True)
    while True:
        for name in ("dashboard:overview", "dashboard:runs"):
            replica.get(reverse(name))
        time.sleep(POLL_SECONDS)


def _drain(conn, tasks: int) -> float:
    baseline = count_state(conn, "completed")
    started = time.monotonic()
    spawn_two_steps(conn, tasks)
    wait_until(lambda: count_state(conn, "completed") - baseline >= tasks, timeout=600)
    return tasks / (time.monotonic() - started)


def worker_under_replica_dashboard(
    url: str, env: dict, tasks: int, rounds: int, replica_pm: int
) -> dict:
    """ABBA rounds of a drain with and without the dashboards polling the replica. Also the
    CPU the replica server (its WAL replay, and the dashboards' queries) and the polling
    Django process use meanwhile, in cores: on this one machine it is taken from the cores
    the primary and the worker share, which a replica on its own host would not do."""
    from bench.hot_path import cpu_seconds, server_cpu

    idle, watched = [], []
    cores = {"idle": [], "watched": []}
    poller = [sys.executable, "-m", "bench.scale_replica", "--child", "poll"]

    def drain_idle(conn) -> float:
        c0, t0 = server_cpu(replica_pm), time.monotonic()
        tps = _drain(conn, tasks)
        cores["idle"].append((server_cpu(replica_pm) - c0) / (time.monotonic() - t0))
        return tps

    def drain_watched(conn) -> float:
        with process(poller, env, ready_line="poll.ready") as proc:
            c0, t0 = server_cpu(replica_pm) + cpu_seconds(proc.pid), time.monotonic()
            tps = _drain(conn, tasks)
            used = server_cpu(replica_pm) + cpu_seconds(proc.pid) - c0
            cores["watched"].append(used / (time.monotonic() - t0))
            return tps

    with connect() as conn:
        reset_queue(conn)
        conn.execute("checkpoint")
        with runworker(url, 4):
            _drain(conn, min(tasks, 500))  # warm-up
            for index in range(rounds):
                if index % 2 == 0:
                    idle.append(drain_idle(conn))
                    watched.append(drain_watched(conn))
                else:
                    watched.append(drain_watched(conn))
                    idle.append(drain_idle(conn))
                print(
                    f"  round {index + 1}: idle {idle[-1]:.0f} tasks/s,"
                    f" dashboards on the replica {watched[-1]:.0f} tasks/s",
                    flush=True,
                )
    return {
        "idle_tps": statistics.median(idle),
        "watched_tps": statistics.median(watched),
        "idle_rounds": idle,
        "watched_rounds": watched,
        "replica_cores_idle": statistics.median(cores["idle"]),
        "replica_cores_watched": statistics.median(cores["watched"]),
    }


def run(tasks: int = TASKS) -> dict:
    from bench.dashboard_load import load
    from tests.replica import start_replica, wait_until_replayed

    url = fresh_database()
    with connect() as conn:
        loaded = load(conn, tasks)
    print(
        f"scale_replica: loaded {loaded['tasks']:,} tasks in {loaded['load_seconds']:.1f} s",
        flush=True,
    )
    params = server_params()
    started = time.monotonic()
    replica = start_replica(
        {"HOST": params["host"], "PORT": params["port"], "USER": params["user"], "NAME": BENCH_DB}
    )
    try:
        with connect() as conn:
            wait_until_replayed(replica, conn, timeout=600)
        made = time.monotonic() - started
        print(f"  replica made with pg_basebackup and caught up in {made:.1f} s", flush=True)
        replica_url = f"postgres://{quote(params['user'])}@{quote(replica.host, safe='')}"
        replica_url += f":{replica.port}/{BENCH_DB}"
        env = {**worker_env(url), "DATABASE_REPLICA_URL": replica_url}
        child = subprocess.run(
            [sys.executable, "-m", "bench.scale_replica", "--child", "runs", str(REQUESTS)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if child.returncode:
            sys.stderr.write(child.stdout[-2000:] + child.stderr[-4000:])
            raise RuntimeError("bench.scale_replica child failed")
        runs = json.loads(child.stdout.strip().splitlines()[-1])
        replica_pm = int((replica.pgdata / "postmaster.pid").read_text().split()[0])
        worker = worker_under_replica_dashboard(url, env, WORKER_TASKS, WORKER_ROUNDS, replica_pm)
    finally:
        replica.stop()
    r = {**loaded, "replica_seconds": made, "runs": runs, **worker, "requests": REQUESTS}
    r["runs_ratio"] = ratio(runs["replica"]["p50_ms"], runs["primary"]["p50_ms"])
    r["worker_ratio"] = ratio(worker["watched_tps"], worker["idle_tps"])
    print(f"  GET /runs/ first page at {tasks:,} tasks, {REQUESTS} alternating requests each:")
    for side in ("replica", "primary"):
        print(
            f"    from the {side:8s} p50 {runs[side]['p50_ms']:7.1f} ms"
            f"  p95 {runs[side]['p95_ms']:7.1f} ms"
        )
    print(f"    replica/primary p50 {r['runs_ratio']:.2f} (target: equal within noise)")
    print(
        f"  runworker on the primary {worker['idle_tps']:.0f} tasks/s idle,"
        f" {worker['watched_tps']:.0f} tasks/s with dashboards refreshing from the replica"
        f" every {POLL_SECONDS:.0f} s: {r['worker_ratio']:.0%} (target >= 95%)"
    )
    share = (worker["replica_cores_watched"] - worker["replica_cores_idle"]) / (os.cpu_count() or 1)
    print(
        f"  on this one machine the replica used {worker['replica_cores_idle']:.2f} cores"
        f" replaying while idle, and the replica with the polling dashboards"
        f" {worker['replica_cores_watched']:.2f}: {share:.0%} of its {os.cpu_count()} cores"
        " taken from the primary and the worker, which a replica on its own host would not take"
    )
    return r


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        if sys.argv[2] == "poll":
            poll_forever()
        else:
            print(json.dumps(measure_runs(int(sys.argv[3]))))
    else:
        run()
