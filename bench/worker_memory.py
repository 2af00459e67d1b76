"""RSS of ``runworker --concurrency 4`` after 5,000 and after 50,000 tasks: no growth with work.

The baseline is the same process after its first 5,000 tasks (imports, caches and
connections warmed); the target is less than 10% growth by 50,000.
"""

from __future__ import annotations

import argparse

import psutil

from bench.common import (
    connect,
    count_state,
    fresh_database,
    reset_queue,
    runworker,
    spawn_two_steps,
)
from bench.common import wait_until as wait


def run(first: int = 5000, total: int = 50_000) -> dict:
    url = fresh_database()
    with connect() as conn:
        reset_queue(conn)
        with runworker(url) as proc:
            worker = psutil.Process(proc.pid)
            spawn_two_steps(conn, first)
            wait(lambda: count_state(conn, "completed") >= first, timeout=600, interval=0.2)
            rss_first = worker.memory_info().rss
            remaining = total - first
            while remaining > 0:
                chunk = min(5000, remaining)
                spawn_two_steps(conn, chunk)
                remaining -= chunk
                target = total - remaining
                wait(
                    lambda t=target: count_state(conn, "completed") >= t, timeout=600, interval=0.2
                )
            rss_total = worker.memory_info().rss
    growth = rss_total / rss_first - 1
    print("worker_memory: runworker --concurrency 4, demo.two_steps")
    print(f"  RSS after {first:>6} tasks: {rss_first / 2**20:7.1f} MiB")
    print(f"  RSS after {total:>6} tasks: {rss_total / 2**20:7.1f} MiB")
    print(f"  growth {growth:+.1%} (target < 10%)")
    return {
        "first_tasks": first,
        "total_tasks": total,
        "rss_first_mib": rss_first / 2**20,
        "rss_total_mib": rss_total / 2**20,
        "growth": growth,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=int, default=5000)
    parser.add_argument("--total", type=int, default=50_000)
    args = parser.parse_args()
    run(args.first, args.total)
