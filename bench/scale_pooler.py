"""API spawn through PgBouncer (transaction mode, prepared statements off) against direct
connections, in the same run (docs/scaling.md, "A connection pooler").

Two gunicorn servers as in bench/api.py (2 gthread workers x 4 threads, DEBUG off) on the same
bench database: one connects to PostgreSQL directly with the default settings (prepared
statements on), the other through Debian's pgbouncer in transaction mode
(tests/pgbouncer.py, on free ports) with ``DATABASE_POOLER=transaction``. The load generator
(bench/api.py's, 8 persistent HTTP/1.1 connections) alternates rounds between the two;
medians count. Target: pooled >= 85% of direct, 0 errors, every acknowledged task stored.

``BENCH_POOLER_ROUNDS`` and ``BENCH_POOLER_SECONDS`` shorten it for a quick run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from urllib.parse import quote

from bench.common import ROOT, fresh_database, server_params, worker_env

ROUNDS = int(os.environ.get("BENCH_POOLER_ROUNDS", "5"))
ROUND_SECONDS = float(os.environ.get("BENCH_POOLER_SECONDS", "4"))
TARGET = 0.85


def measure(pooled_url: str) -> dict:
    """In a child process whose DATABASE_URL is the bench database (direct)."""
    import django

    django.setup()
    from django.db import connection

    from absurd_core import engine
    from bench.api import Load, Server
    from tenants.api_keys import issue_key
    from tenants.models import RateLimitPolicy, Tenant

    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=1e6, spawn_burst=10**9)
    key = issue_key(tenant, "bench", role="operator").key
    connection.close()

    direct = Server(os.environ["DATABASE_URL"])
    os.environ["DATABASE_POOLER"] = "transaction"
    try:
        pooled = Server(pooled_url)
    finally:
        del os.environ["DATABASE_POOLER"]
    try:
        direct.wait_ready()
        pooled.wait_ready()
        loads = {"direct": Load(direct.port, key), "pooled": Load(pooled.port, key)}
        for load in loads.values():
            load.run("spawn", 1.0)  # warm-up: connections, plans, imports
        rounds: dict[str, list[float]] = {"direct": [], "pooled": []}
        for index in range(ROUNDS):
            order = ("direct", "pooled") if index % 2 == 0 else ("pooled", "direct")
            for side in order:
                rounds[side].append(loads[side].run("spawn", ROUND_SECONDS))
            print(
                f"  round {index + 1}: direct {rounds['direct'][-1]:.0f}/s,"
                f" pooled {rounds['pooled'][-1]:.0f}/s",
                file=sys.stderr,
                flush=True,
            )
        for load in loads.values():
            load.close()
    finally:
        direct.stop()
        pooled.stop()
    acknowledged = [t for load in loads.values() for t in load.acknowledged]
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd.t_demo where task_id = any(%s::uuid[])", [acknowledged]
        )
        found = cursor.fetchone()[0]
    return {
        "rounds": ROUNDS,
        "round_seconds": ROUND_SECONDS,
        "direct_rps": statistics.median(rounds["direct"]),
        "pooled_rps": statistics.median(rounds["pooled"]),
        "direct_rounds": rounds["direct"],
        "pooled_rounds": rounds["pooled"],
        "errors": {side: len(load.errors) for side, load in loads.items()},
        "error_samples": [e for load in loads.values() for e in load.errors[:3]],
        "acknowledged": len(set(acknowledged)),
        "found": found,
    }


def run() -> dict:
    from tests.pgbouncer import start_pgbouncer

    url = fresh_database()
    params = server_params()
    bouncer = start_pgbouncer(
        {"HOST": params["host"], "PORT": params["port"], "USER": params["user"]},
        pool_mode="transaction",
    )
    try:
        pooled_url = (
            f"postgres://{quote(params['user'])}@{quote(bouncer.host, safe='')}:{bouncer.port}"
            "/absurd_bench"
        )
        child = subprocess.run(
            [sys.executable, "-m", "bench.scale_pooler", "--child", pooled_url],
            cwd=ROOT,
            env=worker_env(url),
            capture_output=True,
            text=True,
        )
    finally:
        bouncer.stop()
    sys.stderr.write(child.stderr[-2000:] if child.returncode else "")
    if child.returncode != 0:
        raise RuntimeError("bench.scale_pooler child failed")
    r = json.loads(child.stdout.strip().splitlines()[-1])
    r["ratio"] = r["pooled_rps"] / r["direct_rps"]
    print(
        f"scale_pooler: POST /api/v1/tasks under gunicorn, {r['rounds']} alternating rounds of"
        f" {r['round_seconds']:.0f} s, medians"
    )
    print(f"  direct to PostgreSQL (prepared statements on)    {r['direct_rps']:8.0f} spawns/s")
    print(f"  through PgBouncer 1.18, transaction mode (off)   {r['pooled_rps']:8.0f} spawns/s")
    print(f"  ratio {r['ratio']:.0%} (target >= {TARGET:.0%})")
    print(
        f"  errors direct {r['errors']['direct']}, pooled {r['errors']['pooled']} (target 0);"
        f" acknowledged {r['acknowledged']}, stored {r['found']}"
    )
    for sample in r["error_samples"]:
        print(f"    {sample}")
    return r


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        print(json.dumps(measure(sys.argv[2])))
    else:
        run()
