"""The operator dashboard at a million tasks: page server times, and its cost to the worker.

1. Load: 1,000,000 tasks over 3 queues and 2 tenants in every state, with their
   runs, some checkpoints, the event log and dead letters, set-based
   (bench/dashboard_load.py), then VACUUM ANALYZE. Printed: how long it took.
2. Page speed: each page's server time over ``REQUESTS`` requests through
   Django's test Client in-process (middleware, session, view, template), as a
   platform user (all tenants) and as a tenant member; p50 and p95. The query
   functions behind the pages are also timed on their own
   (absurd_core.queries.queues, task_list.list_tasks, queries.tasks.find_task, the
   dead-letter grouping), so the figures mean something while a page is a stub.
   Target: p95 <= 150 ms for every page.
3. Worker under a watching dashboard: runworker drains ``WORKER_TASKS``
   demo.two_steps tasks idle, then while a client refreshes the overview, its
   queue table and the runs list every 2 s; alternating rounds (ABBA), medians.
   Target: at most 10% fewer tasks per second.
4. Estimates: which overview counts are estimates at this size, and how far
   each is from the exact count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from bench.common import (
    ROOT,
    connect,
    count_state,
    fresh_database,
    process,
    ratio,
    reset_queue,
    runworker,
    spawn_two_steps,
    wait_until,
    worker_env,
)

TASKS = 1_000_000
REQUESTS = 50
WORKER_TASKS = 2000
WORKER_ROUNDS = 4
POLL_SECONDS = 2.0
TARGET_P95_MS = 150.0
DEEP_PAGES = 200


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000, "n": len(ordered)}


def _time(fn, repeat: int) -> dict:
    fn()  # warm-up (connection, caches, template loading)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


# -- In the child process (DATABASE_URL is the bench database) -------------------------------


def _setup_users():
    from django.contrib.auth import get_user_model

    from tenants.models import Membership, Tenant

    users = get_user_model().objects
    root = users.filter(username="bench-root").first() or users.create_superuser(
        "bench-root", "root@example.com"
    )
    member = users.filter(username="bench-acme").first()
    if member is None:
        member = users.create_user("bench-acme")
        Membership.objects.create(user=member, tenant=Tenant.objects.get(slug="acme"), role="admin")
    return root, member


def _samples() -> dict:
    """Ids the cases need: a failed task with checkpoints, an idempotency key, an old id."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select t.task_id from absurd.t_orders t where t.state = 'failed'"
            " and t.headers->>'tenant' = 'acme'"
            " and exists (select 1 from absurd.c_orders c where c.task_id = t.task_id)"
            " order by t.task_id desc limit 1"
        )
        task_id = cursor.fetchone()[0]
        cursor.execute(
            "select idempotency_key from absurd.t_emails where idempotency_key like 'acme/%%'"
            " order by task_id limit 1 offset 1000"
        )
        key = cursor.fetchone()[0].split("/", 1)[1]
    return {"task_id": task_id, "key": key}


def _timeline_reads(scope, task_id):
    from absurd_core.audit import task_timeline
    from absurd_core.queries.checkpoints import checkpoint_values
    from absurd_core.queries.tasks import find_task

    task = find_task(scope, task_id)
    items = checkpoint_values(scope, task.queue, task_id).items
    return task, items, task_timeline(scope, task.queue, task_id)


def _timeline_spans(scope, task_id):
    """A case timing step_timeline alone, over rows read once beforehand."""
    from django.utils import timezone

    from absurd_core.step_timings import step_timeline

    rows = []

    def spans():
        if not rows:
            rows.append(_timeline_reads(scope, task_id))
        task, items, entries = rows[0]
        return step_timeline(task.runs, items, entries, timezone.now())

    return spans


def _function_cases(scope, deep: str, old: str, samples: dict) -> dict:
    from django.db.models import Count, Max

    from absurd_core.queries import queues as overview
    from absurd_core.queries.dead_letters import dead_letters
    from absurd_core.queries.dead_letters import groups as dead_letter_groups
    from absurd_core.queries.task_list import TaskFilter, list_tasks
    from absurd_core.queries.tasks import find_task

    return {
        "overview_stats": lambda: overview.overview_stats(scope),
        "throughput": lambda: overview.throughput(scope),
        "totals": lambda: overview.totals(scope),
        "list_tasks: first page": lambda: list_tasks(scope, TaskFilter()),
        "list_tasks: 200 pages deep": lambda: list_tasks(scope, TaskFilter(), cursor=deep),
        "list_tasks: state=failed": lambda: list_tasks(scope, TaskFilter(states=("failed",))),
        "list_tasks: state=failed, 15 days back": lambda: list_tasks(
            scope, TaskFilter(states=("failed",)), cursor=old
        ),
        "list_tasks: state=running": lambda: list_tasks(scope, TaskFilter(states=("running",))),
        "list_tasks: queue=orders": lambda: list_tasks(scope, TaskFilter(queues=("orders",))),
        "list_tasks: task=orders.audit": lambda: list_tasks(
            scope, TaskFilter(task_name="orders.audit")
        ),
        "list_tasks: q=<task id>": lambda: list_tasks(
            scope, TaskFilter(search=str(samples["task_id"]))
        ),
        "list_tasks: q=<idempotency key>": lambda: list_tasks(
            scope, TaskFilter(search=samples["key"])
        ),
        "list_tasks: q=region:eu": lambda: list_tasks(scope, TaskFilter(search="region:eu")),
        "list_tasks: q=customer:c42": lambda: list_tasks(scope, TaskFilter(search="customer:c42")),
        "find_task": lambda: find_task(scope, samples["task_id"]),
        # The task page's step timeline: what it reads (the page reads it anyway) and the
        # spans derived from it in memory (no query of its own), against find_task above.
        "task page reads: find_task + checkpoints + event log": lambda: _timeline_reads(
            scope, samples["task_id"]
        ),
        "step_timeline: spans from those rows (no query)": _timeline_spans(
            scope, samples["task_id"]
        ),
        "dead letters: open, grouped by queue, task, error": lambda: list(
            dead_letters(scope, state="open")
            .values("queue", "task_name", "error_name")
            .annotate(count=Count("id"), last=Max("failed_at"))
            .order_by("-count")
        ),
        "dead letters: open, first page": lambda: list(dead_letters(scope, state="open")[:50]),
        **_chart_functions(scope),
        "dead letters: groups (normalised message)": lambda: dead_letter_groups(scope),
    }


#: The overview chart's ranges (absurd_core.queries.throughput.RANGES).
CHART_RANGES = ("1h", "24h", "7d")


def _chart_cases(url: str) -> dict:
    """The overview chart's JSON endpoint, each range, all queues and one queue."""
    cases = {f"chart data, range={r}": (url, {"range": r}) for r in CHART_RANGES}
    cases["chart data, range=7d, queue=orders"] = (url, {"range": "7d", "queue": "orders"})
    return cases


def _chart_functions(scope) -> dict:
    from absurd_core.queries.throughput import chart_range, duration_percentiles, throughput_series

    cases = {}
    for name in CHART_RANGES:
        chart = chart_range(name)
        cases[f"throughput_series {name}"] = lambda c=chart: throughput_series(scope, c)
        cases[f"duration_percentiles {name}"] = lambda c=chart: duration_percentiles(scope, c)
    return cases


def chart_ratios(pages: dict) -> list[str]:
    """Each chart request's p95 against the overview page's, measured in the same run."""
    lines = []
    for label in ("all", "acme"):
        base = pages.get(f"overview ({label})")
        if not base:
            continue
        for name, stats in pages.items():
            if name.startswith("chart data") and name.endswith(f"({label})"):
                lines.append(
                    f"    {name:60s} p95 {ratio(stats['p95_ms'], base['p95_ms']):5.2f}x"
                    f" the overview page's ({base['p95_ms']:.1f} ms)"
                )
    return lines


def measure_pages(repeat: int) -> dict:
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse
    from django.utils import timezone

    from absurd_core.queries.task_list import TaskFilter, encode_cursor, list_tasks, uuid7_floor
    from absurd_core.tenancy import ALL_TENANTS, TenantScope

    setup_test_environment()
    root, member = _setup_users()
    samples = _samples()
    results: dict[str, dict] = {"pages": {}, "functions": {}}

    scopes = {"all": TenantScope(ALL_TENANTS), "acme": TenantScope("acme")}
    # Follow next_cursor DEEP_PAGES pages deep (timing each hop: a keyset walk).
    deep, walk = {}, {}
    for label, scope in scopes.items():
        cursor, hops = None, []
        for _ in range(DEEP_PAGES):
            started = time.perf_counter()
            page = list_tasks(scope, TaskFilter(), cursor=cursor)
            hops.append(time.perf_counter() - started)
            cursor = page.next_cursor
        deep[label] = cursor
        walk[label] = _percentiles(hops)
        # Halfway back in a month of history: a cursor made from a task id of 15 days ago.
        deep[label + "_old"] = encode_cursor(uuid7_floor(timezone.now() - timedelta(days=15)))
        # A rare params value: the first page stops at its search window; this opens the next.
        deep[label + "_c42"] = list_tasks(scope, TaskFilter(search="customer:c42")).next_cursor
    for label, stats in walk.items():
        results["functions"][f"list_tasks: keyset walk, {DEEP_PAGES} pages ({label})"] = stats

    task_url = reverse("dashboard:task", args=[samples["task_id"]])
    for label, user in (("all", root), ("acme", member)):
        client = Client()
        client.force_login(user)
        scope = scopes[label]
        cases = {
            "overview": (reverse("dashboard:overview"), {}),
            "overview partial (queue table)": (reverse("dashboard:queue_table"), {}),
            "runs, first page": (reverse("dashboard:runs"), {}),
            f"runs, {DEEP_PAGES} pages deep": (reverse("dashboard:runs"), {"cursor": deep[label]}),
            "runs, 15 days back (cursor from an old id)": (
                reverse("dashboard:runs"),
                {"cursor": deep[label + "_old"]},
            ),
            "runs, state=failed": (reverse("dashboard:runs"), {"state": "failed"}),
            "runs, state=failed, 15 days back": (
                reverse("dashboard:runs"),
                {"state": "failed", "cursor": deep[label + "_old"]},
            ),
            "runs, queue=orders": (reverse("dashboard:runs"), {"queue": "orders"}),
            "runs, task=orders.audit (1%)": (reverse("dashboard:runs"), {"task": "orders.audit"}),
            "runs, q=<task id>": (reverse("dashboard:runs"), {"q": str(samples["task_id"])}),
            "runs, q=<idempotency key>": (reverse("dashboard:runs"), {"q": samples["key"]}),
            "runs, q=region:eu (1 in 3)": (reverse("dashboard:runs"), {"q": "region:eu"}),
            "runs, q=customer:c42 (1 in 5,000)": (
                reverse("dashboard:runs"),
                {"q": "customer:c42"},
            ),
            "runs, q=customer:c42, search older (next window)": (
                reverse("dashboard:runs"),
                {"q": "customer:c42", "cursor": deep[label + "_c42"]},
            ),
            "task detail (failed, 3 runs, checkpoints)": (task_url, {}),
            "task detail, polled part with the step timeline": (
                reverse("dashboard:task_live", args=[samples["task_id"]]),
                {},
            ),
            "dead letters": (reverse("dashboard:dead_letters"), {}),
            "dead letters, state=open": (reverse("dashboard:dead_letters"), {"state": "open"}),
            "queues": (reverse("dashboard:queues"), {}),
            **_chart_cases(reverse("dashboard:charts")),
        }
        for name, (url, params) in cases.items():
            statuses = set()

            def get(client=client, url=url, params=params, statuses=statuses):
                statuses.add(client.get(url, params).status_code)

            stats = _time(get, repeat)
            stats["status"] = sorted(statuses)
            results["pages"][f"{name} ({label})"] = stats

        functions = _function_cases(scope, deep[label], deep[label + "_old"], samples)
        for name, fn in functions.items():
            results["functions"][f"{name} ({label})"] = _time(fn, repeat)
    results["estimates"] = estimates(scopes)
    return results


def estimates(scopes) -> list[dict]:
    """Each overview count that is an estimate, beside the exact count."""
    from absurd_core.queries import queues as overview

    rows = []
    for label, scope in scopes.items():
        shown = overview.overview_stats(scope)
        exact = overview.overview_stats(scope, exact_limit=10**9)
        for queue_shown, queue_exact in zip(shown, exact, strict=True):
            for state, count in queue_shown.counts.items():
                actual = queue_exact.counts[state]
                if count != actual:
                    rows.append(
                        {
                            "scope": label,
                            "queue": queue_shown.name,
                            "state": state,
                            "shown": count,
                            "exact": actual,
                            "error": (count - actual) / actual if actual else 0.0,
                        }
                    )
    return rows


def poll_forever() -> None:
    """What an open overview tab does (plus a runs list): refresh every 2 s, until killed."""
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    root, _ = _setup_users()
    client = Client()
    client.force_login(root)
    urls = [reverse("dashboard:queue_table"), reverse("dashboard:runs")]
    client.get(reverse("dashboard:overview"))
    print("poll.ready", flush=True)
    while True:
        started = time.monotonic()
        for url in urls:
            client.get(url)
        time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))


# -- In the parent ---------------------------------------------------------------------------


def _child(mode: str, url: str, *extra: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-m", "bench.dashboard", "--child", mode, *extra],
        cwd=ROOT,
        env=worker_env(url),
        capture_output=True,
        text=True,
    )
    if child.returncode:
        sys.stderr.write(child.stdout[-3000:] + child.stderr[-6000:])
        raise RuntimeError(f"bench.dashboard child {mode} failed")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _drain(conn, tasks: int) -> float:
    baseline = count_state(conn, "completed")
    started = time.monotonic()
    spawn_two_steps(conn, tasks)
    wait_until(lambda: count_state(conn, "completed") - baseline >= tasks, timeout=600)
    return tasks / (time.monotonic() - started)


def worker_under_dashboard(url: str, tasks: int, rounds: int) -> dict:
    idle, watched = [], []
    poller_args = [sys.executable, "-m", "bench.dashboard", "--child", "poll"]

    def drain_watched(conn) -> float:
        with process(poller_args, worker_env(url), ready_line="poll.ready"):
            return _drain(conn, tasks)

    with connect() as conn:
        reset_queue(conn)
        # Write out the load's dirty pages now, not during the first timed drain.
        conn.execute("checkpoint")
        with runworker(url, 4):
            _drain(conn, min(tasks, 500))  # warm-up
            for index in range(rounds):
                # ABBA order: drift on a shared machine favours neither side.
                if index % 2 == 0:
                    idle.append(_drain(conn, tasks))
                    watched.append(drain_watched(conn))
                else:
                    watched.append(drain_watched(conn))
                    idle.append(_drain(conn, tasks))
                print(
                    f"  round {index + 1}: idle {idle[-1]:.0f} tasks/s,"
                    f" watched {watched[-1]:.0f} tasks/s",
                    flush=True,
                )
    idle_tps, watched_tps = statistics.median(idle), statistics.median(watched)
    return {
        "worker_tasks": tasks,
        "worker_rounds": rounds,
        "idle_tps": idle_tps,
        "watched_tps": watched_tps,
        "worker_drop": 1 - ratio(watched_tps, idle_tps),
        "idle_rounds": idle,
        "watched_rounds": watched,
    }


def _table(rows: dict) -> list[str]:
    lines = []
    for name, stats in rows.items():
        flag = "" if stats["p95_ms"] <= TARGET_P95_MS else "  over target"
        status = f"  HTTP {stats['status']}" if "status" in stats else ""
        lines.append(
            f"  {name:72s} p50 {stats['p50_ms']:7.1f} ms  p95 {stats['p95_ms']:7.1f} ms"
            f"{status}{flag}"
        )
    return lines


def markdown_rows(rows: dict) -> str:
    """Table rows for docs/performance.md (bench/run_all.py)."""
    lines = []
    for name, stats in rows.items():
        status = ", ".join(str(code) for code in stats.get("status", []))
        cells = [name, f"{stats['p50_ms']:.1f} ms", f"{stats['p95_ms']:.1f} ms"]
        if "status" in stats:
            cells.append(status)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(tasks: int = TASKS, repeat: int = REQUESTS, worker_tasks: int = WORKER_TASKS) -> dict:
    url = fresh_database()
    from bench.dashboard_load import load

    with connect() as conn:
        loaded = load(conn, tasks)
    print(
        f"dashboard: loaded {loaded['tasks']:,} tasks and {loaded['runs']:,} runs over 3 queues"
        f" and 2 tenants in {loaded['insert_seconds']:.1f} s (+ VACUUM ANALYZE:"
        f" {loaded['load_seconds']:.1f} s in all)",
        flush=True,
    )
    pages = _child("pages", url, "--repeat", str(repeat))
    print(f"  pages, server time over {repeat} requests (Django test Client, in-process):")
    print("\n".join(_table(pages["pages"])))
    print("  the chart endpoint against the overview page (same run, p95):")
    print("\n".join(chart_ratios(pages["pages"])))
    print(f"  query functions alone, over {repeat} calls:")
    print("\n".join(_table(pages["functions"])), flush=True)
    for label in ("all", "acme"):  # the step timeline against the reads it is drawn from
        spans = pages["functions"].get(f"step_timeline: spans from those rows (no query) ({label})")
        reads = pages["functions"].get(
            f"task page reads: find_task + checkpoints + event log ({label})"
        )
        if spans and reads:
            print(
                f"  step timeline ({label}): {spans['p50_ms']:.2f} ms p50 to draw the spans,"
                f" {ratio(spans['p50_ms'], reads['p50_ms']):.1%} of the"
                f" {reads['p50_ms']:.2f} ms the task page spends reading them"
            )
    print("  estimated overview counts (exact up to the limit, estimates above):")
    for row in pages["estimates"]:
        print(
            f"    {row['scope']:5s} {row['queue']:8s} {row['state']:10s} shown {row['shown']:>8,}"
            f"  exact {row['exact']:>8,}  ({row['error']:+.1%})"
        )
    if worker_tasks <= 0:  # --worker-tasks 0: pages only (a quick run while developing)
        over = [n for n, s in pages["pages"].items() if s["p95_ms"] > TARGET_P95_MS]
        return {**loaded, **pages, "requests": repeat, "pages_over_target": over}
    worker = worker_under_dashboard(url, worker_tasks, WORKER_ROUNDS)
    print(
        f"  runworker {worker['idle_tps']:.0f} tasks/s idle, {worker['watched_tps']:.0f} tasks/s"
        f" with the dashboard refreshing every {POLL_SECONDS:.0f} s:"
        f" drop {worker['worker_drop']:.1%} (target <= 10%)"
    )
    over = [n for n, s in pages["pages"].items() if s["p95_ms"] > TARGET_P95_MS]
    return {**loaded, **worker, **pages, "requests": repeat, "pages_over_target": over}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--repeat", type=int, default=REQUESTS)
    parser.add_argument("--worker-tasks", type=int, default=WORKER_TASKS)
    parser.add_argument("--child", choices=["pages", "poll"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        if args.child == "poll":
            poll_forever()
        else:
            print(json.dumps(measure_pages(args.repeat), default=str))
    else:
        run(args.tasks, args.repeat, args.worker_tasks)


if __name__ == "__main__":
    main()
