"""Spawn throughput through the tenant spawn limiter against the same spawns without it.

Same database, same tenant, same task: "with" is ``absurd_core.spawn`` (the
spawn and the limiter's gate in one autocommit statement), "without" is the
same spawn statement without the gate, also in autocommit. The bucket is large enough never
to refuse. The two alternate in 10 rounds and each side's median round counts.
Target: at least 90%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, fresh_database, worker_env

ROUNDS = 10


def measure(spawns: int) -> dict:
    """Runs in a child process whose DATABASE_URL is the bench database."""
    import django

    django.setup()
    from django.db import connection

    from absurd_core import engine, spawn
    from absurd_core.spawning import BARE_SPAWN_SQL
    from tenants.models import RateLimitPolicy, Tenant

    engine.create_queue("demo")
    limited = Tenant.objects.create(slug="limited", name="Limited")
    RateLimitPolicy.objects.create(tenant=limited, spawn_rate=1e6, spawn_burst=10**9)

    options = json.dumps({"headers": {"tenant": "limited"}, "max_attempts": 5})

    def bare(i: int) -> None:
        # What spawn() does, minus the gate: the same statement, in autocommit.
        with connection.cursor() as cursor:
            values = {"queue": "demo", "task": "demo.two_steps", "options": options}
            cursor.execute(BARE_SPAWN_SQL, {**values, "params": json.dumps({"i": i})})

    def limited_spawn(i: int) -> None:
        spawn("demo.two_steps", {"i": i}, tenant="limited")

    def rate(one, count: int) -> float:
        started = time.perf_counter()
        for i in range(count):
            one(i)
        return count / (time.perf_counter() - started)

    # Alternating rounds, medians: a shared 2-core machine drifts by more than the
    # limiter costs, and one long run of each would measure the drift.
    rate(bare, ROUNDS)  # warm-up
    rate(limited_spawn, ROUNDS)
    per_round = max(1, spawns // ROUNDS)
    without, with_limiter = [], []
    for _ in range(ROUNDS):
        without.append(rate(bare, per_round))
        with_limiter.append(rate(limited_spawn, per_round))
    return {
        "spawns": per_round * ROUNDS,
        "without_per_s": statistics.median(without),
        "with_per_s": statistics.median(with_limiter),
    }


def run(spawns: int = 2000) -> dict:
    url = fresh_database()
    child = subprocess.run(
        [sys.executable, "-m", "bench.rate_limit", "--child", "--spawns", str(spawns)],
        cwd=ROOT,
        env=worker_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(child.stdout.strip().splitlines()[-1])
    results["kept"] = results["with_per_s"] / results["without_per_s"]
    print(f"rate_limit: {spawns} spawns through absurd_core.spawn, one at a time")
    print(f"  without limiter                    {results['without_per_s']:8.0f} spawns/s")
    print(f"  with limiter (token bucket)        {results['with_per_s']:8.0f} spawns/s")
    print(f"  kept {results['kept']:.0%} (target >= 90%)")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=2000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        print(json.dumps(measure(args.spawns)))
    else:
        run(args.spawns)
