"""Drain N demo.two_steps tasks: absurd-sdk worker vs runworker vs the raw SQL ceiling.

(b-async) is the same task as ``async def`` (demo.two_steps_async) on runworker's event
loop, drained right after (b): target within 10% of it.

(a) absurd-sdk ``Absurd.start_worker(concurrency=4)``;
(b) ``manage.py runworker --concurrency 4``;
(b-dj) the same two steps written with Django's Tasks API (demo.django_two_steps, run by
       runworker through absurd_core.django_tasks), beside (b) in the same run;
(c) the engine's ceiling: batched claim_task + complete_run, no steps, two connections.
Then the same drains with 100,000 completed tasks already in the queue.
Targets: b/a >= 5, b/c >= 0.4, b-dj/b >= 0.9, and runworker keeps >= 80% with history.
"""

from __future__ import annotations

import argparse
import threading
import time

from bench import hot_path
from bench.common import (
    add_history,
    connect,
    count_state,
    fresh_database,
    ratio,
    reset_queue,
    runworker,
    sdk_worker,
    set_lifecycle_triggers,
    spawn_two_steps,
    wait_until,
)


def drain_with(
    worker_cm,
    url: str,
    tasks: int,
    history: int,
    lifecycle_triggers: bool = True,
    task: str = "demo.two_steps",
) -> float:
    """Tasks per second from the spawn commit until every task is completed."""
    with connect() as conn:
        reset_queue(conn)
        set_lifecycle_triggers(conn, lifecycle_triggers)
        if history:
            add_history(conn, history)
        baseline = count_state(conn, "completed")
        with worker_cm(url):
            started = time.monotonic()
            spawn_two_steps(conn, tasks, task=task)
            wait_until(lambda: count_state(conn, "completed") - baseline >= tasks, timeout=600)
            elapsed = time.monotonic() - started
    return tasks / elapsed


def raw_ceiling(
    tasks: int, history: int, connections: int = 2, batch: int = 8, steps: bool = False
) -> float:
    with connect() as conn:
        reset_queue(conn)
        # The engine's own ceiling: without our event-log triggers.
        set_lifecycle_triggers(conn, False)
        if history:
            add_history(conn, history)
        spawn_two_steps(conn, tasks)
    done = threading.Event()

    def loop(index: int) -> None:
        with connect() as conn:
            while not done.is_set():
                rows = conn.execute(
                    "select run_id, task_id from absurd.claim_task('demo', %s, 60, %s)",
                    (f"raw-{index}", batch),
                ).fetchall()
                if not rows:
                    return
                for run_id, task_id in rows:
                    if steps:  # what a two-step task costs the engine, without any Python task
                        for step in ("increment", "double"):
                            conn.execute(
                                "select absurd.set_task_checkpoint_state("
                                "'demo', %s, %s, '1'::jsonb, %s, 60)",
                                (task_id, step, run_id),
                            )
                    conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    done.set()
    return tasks / elapsed


def run(tasks: int = 5000, history: int = 100_000) -> dict:
    url = fresh_database()
    # Untimed warm-up: the first drain on a fresh database is slower for every worker
    # (new WAL segments, cold caches); without it, whichever variant runs first loses.
    drain_with(runworker, url, min(tasks, 1000), 0)
    sdk = drain_with(sdk_worker, url, tasks, 0)
    ours = drain_with(runworker, url, tasks, 0)
    django_api = drain_with(runworker, url, tasks, 0, task="demo.django_two_steps")
    # The same two steps as ``async def`` (the worker's event loop).
    ours_async = drain_with(runworker, url, tasks, 0, task="demo.two_steps_async")
    ours_again = drain_with(runworker, url, tasks, 0)  # (b) around (b-dj, b-async): drift shows
    ours_bare = drain_with(runworker, url, tasks, 0, lifecycle_triggers=False)
    ceiling = raw_ceiling(tasks, 0)
    steps_ceiling = raw_ceiling(tasks, 0, connections=4, steps=True)
    sdk_h = drain_with(sdk_worker, url, tasks, history)
    ours_h = drain_with(runworker, url, tasks, history)
    ceiling_h = raw_ceiling(tasks, history)
    results = {
        "tasks": tasks,
        "history": history,
        "sdk_tps": sdk,
        "runworker_tps": ours,
        "runworker_again_tps": ours_again,
        "django_api_tps": django_api,
        "django_api_vs_runworker": ratio(django_api, (ours + ours_again) / 2),
        "runworker_no_lifecycle_tps": ours_bare,
        "runworker_async_tps": ours_async,
        "async_vs_plain": ratio(ours_async, (ours + ours_again) / 2),
        "lifecycle_trigger_cost": 1 - ratio(ours, ours_bare),
        "ceiling_tps": ceiling,
        "steps_ceiling_tps": steps_ceiling,
        "runworker_vs_steps_ceiling": ratio(ours, steps_ceiling),
        "runworker_vs_sdk": ratio(ours, sdk),
        "runworker_vs_ceiling": ratio(ours, ceiling),
        "sdk_history_tps": sdk_h,
        "runworker_history_tps": ours_h,
        "ceiling_history_tps": ceiling_h,
        "runworker_history_kept": ratio(ours_h, ours),
        "sdk_history_kept": ratio(sdk_h, sdk),
    }
    print(f"worker_throughput: {tasks} demo.two_steps tasks, concurrency 4")
    print(f"  (a) absurd-sdk start_worker   {sdk:8.0f} tasks/s")
    print(
        f"  (b) runworker                 {ours:8.0f} tasks/s (again after b-dj, b-async:"
        f" {ours_again:.0f})"
    )
    print(f"  (b-dj) Django Tasks API task  {django_api:8.0f} tasks/s")
    print(
        f"  b-dj/b = {results['django_api_vs_runworker']:.2f}  (target >= 0.9; b is the mean"
        " of the runs before and after)"
    )
    print(f"  (b-async) runworker, demo.two_steps_async {ours_async:8.0f} tasks/s")
    print(f"  b-async/b = {results['async_vs_plain']:.2f}  (target >= 0.9; the same mean)")
    print(f"  (b0) runworker, lifecycle triggers disabled {ours_bare:8.0f} tasks/s")
    print(f"  lifecycle trigger cost: {results['lifecycle_trigger_cost']:.0%} (target <= 25%)")
    print(f"  (c) raw SQL ceiling           {ceiling:8.0f} tasks/s")
    print(f"  (d) raw SQL with 2 checkpoints, 4 connections {steps_ceiling:8.0f} tasks/s")
    print(f"  b/a = {results['runworker_vs_sdk']:.2f}  (target >= 5)")
    print(f"  b/c = {results['runworker_vs_ceiling']:.2f}  (target >= 0.4)")
    print(f"  b/d = {results['runworker_vs_steps_ceiling']:.2f}  (share of the engine's own cost)")
    print(f"  with {history} completed tasks in the queue:")
    print(f"  (a) {sdk_h:8.0f}  (b) {ours_h:8.0f}  (c) {ceiling_h:8.0f} tasks/s")
    print(
        f"  runworker keeps {results['runworker_history_kept']:.0%} (target >= 80%),"
        f" absurd-sdk keeps {results['sdk_history_kept']:.0%}"
    )
    # Issue 20's targets: runworker against (d) and against itself without the hot-path
    # changes, alternating rounds, with CPU and claims per task (bench/hot_path.py).
    results["issue20"] = hot_path.run(tasks, rounds=3, url=url)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    run(args.tasks, args.history)
