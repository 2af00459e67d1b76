"""The reads issue 19 (items 8 and 9) added to dashboard pages, against their baselines.

1. Dead-letter groups: ``absurd_core.queries.dead_letters.groups`` groups by the
   stored generated column ``error_group`` (the message with numbers, uuids, hex ids
   and quoted values folded). Baselines, in the same run: the same GROUP BY on the
   exact message (what the page did before), and on the folding expression computed
   at read time (the design the stored column replaced). ``DEAD_LETTERS`` open dead
   letters over 2 tenants, messages with varying numbers and ids; timed for one
   tenant. Alternating rounds (ABAB).
2. Runs held by a dead worker: the runs page's extra statement
   (``absurd_core.queries.worker_holds.dead_holds`` for the page's running rows).
   Baseline: ``list_tasks`` of running tasks alone; measured: ``list_tasks`` plus
   ``dead_holds`` for its 50 rows. ``RUNNING`` running runs, half held by a worker the
   registry knows as dead.

Each figure is p50/p95 over ``REPEAT`` calls per round; printed with the ratio to its
baseline. Run: ``.venv/bin/python -m bench.liveness_reads``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, connect, fresh_database, ratio, worker_env

DEAD_LETTERS = 200_000
RUNNING = 5_000
REPEAT = 30
ROUNDS = 4


def load(dead_letters: int, running: int) -> float:
    started = time.monotonic()
    with connect() as conn:
        conn.execute(
            "insert into absurd_control_dead_letter (tenant, queue, task_id, task_name,"
            " error_name, error_message, attempts, state)"
            " select case when g %% 2 = 0 then 't1' else 't2' end, 'benchq', gen_random_uuid(),"
            " 'bench.task' || (g %% 5),"
            " (array['TimeoutError', 'ValueError', 'KeyError'])[1 + g %% 3],"
            " case g %% 4"
            "  when 0 then 'attempt ' || (g %% 97) || ' of ' || (g %% 97)"
            "  when 1 then 'order ' || gen_random_uuid() || ' not found'"
            "  when 2 then 'no customer ''' || md5(g::text) || ''' in region ' || (g %% 13)"
            "  else 'upstream returned HTTP ' || (500 + g %% 4) || ' after ' || (g %% 30) || '.5 s'"
            " end, 3, 'open' from generate_series(1, %s) g",
            (dead_letters,),
        )
        conn.execute("select absurd.create_queue('benchq')")
        conn.execute(
            "select absurd.spawn_task('benchq', 'bench.hold', '{}'::jsonb,"
            " jsonb_build_object('headers', jsonb_build_object('tenant', 't1')))"
            " from generate_series(1, %s)",
            (running,),
        )
        # Claims take the oldest first: the live worker the older half, the dead one the
        # newer half, which the runs page (newest first) shows.
        conn.execute("select count(*) from absurd.claim_task('benchq', 'w-live', 3600, %s)",
                     (running - running // 2,))  # fmt: skip
        conn.execute("select count(*) from absurd.claim_task('benchq', 'w-gone', 3600, %s)",
                     (running // 2,))  # fmt: skip
        conn.execute(
            "insert into absurd_control_worker (worker_id, host, pid, queues, concurrency,"
            " started_at, last_seen, in_flight, processed, failed) values"
            " ('w-gone', 'h', 1, '[\"benchq\"]', 4, now() - interval '1 hour',"
            "  now() - interval '2 minutes', 0, 0, 0),"
            " ('w-live', 'h', 2, '[\"benchq\"]', 4, now() - interval '1 hour', now() + interval"
            "  '1 day', 0, 0, 0)"
        )
        conn.execute("vacuum analyze")
    return time.monotonic() - started


def _stats(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def measure(repeat: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.db.models import Count, Max, Min, TextField, Value
    from django.db.models.functions import Coalesce

    from absurd_core.error_groups import normalised_message
    from absurd_core.queries.dead_letters import DeadLetterFilter, filtered, groups
    from absurd_core.queries.task_list import TaskFilter, list_tasks
    from absurd_core.queries.worker_holds import dead_holds
    from absurd_core.tenancy import TenantScope

    scope = TenantScope("t1")

    def exact_groups():
        return list(
            filtered(scope, DeadLetterFilter())
            .annotate(
                en=Coalesce("error_name", Value(""), output_field=TextField()),
                em=Coalesce("error_message", Value(""), output_field=TextField()),
            )
            .values("task_name", "en", "em")
            .annotate(n=Count("id"), first=Min("failed_at"), last=Max("failed_at"))
            .order_by("-n", "-last", "task_name")[:100]
        )

    running = TaskFilter(states=("running",))

    def runs_page():
        return list_tasks(scope, running)

    def runs_page_with_holds():
        page = list_tasks(scope, running)
        return dead_holds(scope, [(row.queue, row.task_id) for row in page.items])

    def folded_at_read_time():
        return list(
            filtered(scope, DeadLetterFilter())
            .annotate(
                en=Coalesce("error_name", Value(""), output_field=TextField()),
                em=normalised_message("error_message"),
            )
            .values("task_name", "en", "em")
            .annotate(n=Count("id"), first=Min("failed_at"), last=Max("failed_at"))
            .order_by("-n", "-last", "task_name")[:100]
        )

    cases = {
        "dead-letter groups, exact message (baseline)": exact_groups,
        "dead-letter groups, folded at read time": folded_at_read_time,
        "dead-letter groups, normalised message": lambda: groups(scope),
        "runs page, running tasks (baseline)": runs_page,
        "runs page, running tasks + dead_holds": runs_page_with_holds,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up (plans, caches)
        fn()
    for _ in range(rounds):
        for name, fn in cases.items():
            for _ in range(repeat):
                started = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - started)
    folded = len(groups(scope))
    exact = len(exact_groups())
    held = len(runs_page_with_holds())
    return {
        "cases": {name: _stats(values) for name, values in samples.items()},
        "groups_normalised": folded,
        "groups_exact_shown": exact,
        "held_on_page": held,
    }


def run(dead_letters: int = DEAD_LETTERS, running: int = RUNNING, repeat: int = REPEAT,
        rounds: int = ROUNDS) -> dict:  # fmt: skip
    url = fresh_database()
    seconds = load(dead_letters, running)
    child = subprocess.run(
        [sys.executable, "-m", "bench.liveness_reads", "--child",
         "--repeat", str(repeat), "--rounds", str(rounds)],
        cwd=ROOT, env={**worker_env(url), "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True,
    )  # fmt: skip
    if child.returncode:
        sys.stderr.write(child.stdout[-3000:] + child.stderr[-6000:])
        raise RuntimeError("bench.liveness_reads child failed")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    cases = result["cases"]
    base_g = cases["dead-letter groups, exact message (baseline)"]
    new_g = cases["dead-letter groups, normalised message"]
    base_r = cases["runs page, running tasks (baseline)"]
    new_r = cases["runs page, running tasks + dead_holds"]
    result.update(
        dead_letters=dead_letters,
        running=running,
        load_seconds=seconds,
        groups_ratio=ratio(new_g["p50_ms"], base_g["p50_ms"]),
        read_time_ratio=ratio(
            cases["dead-letter groups, folded at read time"]["p50_ms"], base_g["p50_ms"]
        ),
        holds_ratio=ratio(new_r["p50_ms"], base_r["p50_ms"]),
    )
    print(
        f"liveness_reads: {dead_letters:,} open dead letters, {running:,} running runs"
        f" (loaded in {seconds:.1f} s); {repeat} calls x {rounds} alternating rounds"
    )
    for name, stats in cases.items():
        print(f"  {name:48s} p50 {stats['p50_ms']:7.1f} ms  p95 {stats['p95_ms']:7.1f} ms")
    print(
        f"  groups: {result['groups_normalised']} normalised groups (the exact GROUP BY shows"
        f" its top {result['groups_exact_shown']} of many more); normalised/exact p50 ="
        f" {result['groups_ratio']:.2f} (folding at read time instead:"
        f" {result['read_time_ratio']:.2f})"
    )
    print(
        f"  runs page: {result['held_on_page']} of 50 rows held by a dead worker;"
        f" with dead_holds/without p50 = {result['holds_ratio']:.2f}"
    )
    return result


def markdown(result: dict) -> str:
    """Table rows for docs/performance.md (bench/run_all.py)."""
    lines = ["| read | p50 | p95 |", "|---|---:|---:|"]
    for name, stats in result["cases"].items():
        lines.append(f"| {name} | {stats['p50_ms']:.1f} ms | {stats['p95_ms']:.1f} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dead-letters", type=int, default=DEAD_LETTERS)
    parser.add_argument("--running", type=int, default=RUNNING)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat, args.rounds), default=str))
    else:
        run(args.dead_letters, args.running, args.repeat, args.rounds)


if __name__ == "__main__":
    main()
