"""Approval latency: from the decision POST returning to the workflow's next step having run.

100 `demo.expense_approval` workflows wait on their approval requests under one
runworker (concurrency 4, default poll interval). Each is approved in turn by a
POST of its decision page through Django's full request stack (in process);
the latency is the task's completion time (database clock: its `settle` step
ran, then it completed) minus the moment the POST returned. Target: p50 <= 30 ms.

Baseline, same run and database: a bare `absurd.emit_event` to a task sleeping
on that event (demo.wait_event), measured like bench/event_latency.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import ROOT, fresh_database, worker_env

APPROVALS = 100


def measure(count: int) -> dict:
    """Runs in a child process whose DATABASE_URL is the bench database."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from absurd_core import engine, spawn
    from approvals.models import ApprovalRequest, ApprovalToken
    from approvals.tokens import new_token
    from bench import event_latency
    from bench.common import connect, runworker, wait_completed, wait_until
    from tenants.models import Tenant

    url = os.environ["DATABASE_URL"]
    # A platform tenant: the 2 x 100 spawns must not meet the spawn-rate limit.
    Tenant.objects.create(slug="bench", name="Bench", is_platform=True)
    baseline = event_latency.measure(runworker, url, count)

    engine.create_queue("demo")
    with runworker(url, 4), connect() as conn:
        task_ids = [
            spawn(
                "demo.expense_approval",
                {"amount": i, "requester": "bench", "approvers": ["a@example.com"]},
                tenant="bench",
            ).task_id
            for i in range(count)
        ]

        def all_waiting() -> bool:
            notified = ApprovalToken.objects.filter(notified_at__isnull=False).count()
            sleeping = conn.execute(
                "select count(*) from absurd.t_demo where state = 'sleeping'"
            ).fetchone()[0]
            return notified == count and sleeping == count

        wait_until(all_waiting, timeout=300, interval=0.05)
        latencies = []
        client = Client(HTTP_HOST="127.0.0.1")  # an allowed host of the default settings
        for task_id in task_ids:
            request = ApprovalRequest.objects.get(task_id=task_id)
            raw, digest = new_token()  # what the emailed link would carry
            ApprovalToken.objects.filter(request=request).update(token_hash=digest)
            response = client.post(f"/approvals/{raw}", {"decision": "approve"})
            returned = time.time()
            assert response.status_code == 200, response.status_code
            wait_completed(conn, task_id)
            completed = conn.execute(
                "select extract(epoch from r.completed_at) from absurd.t_demo t"
                " join absurd.r_demo r on r.run_id = t.last_attempt_run where t.task_id = %s",
                (task_id,),
            ).fetchone()[0]
            latencies.append((float(completed) - returned) * 1000)
        connection.close()
    return {
        "approvals": count,
        "p50_ms": event_latency.percentile(latencies, 50),
        "p99_ms": event_latency.percentile(latencies, 99),
        "baseline_p50_ms": event_latency.percentile(baseline, 50),
        "baseline_p99_ms": event_latency.percentile(baseline, 99),
    }


def run(count: int = APPROVALS) -> dict:
    url = fresh_database()
    env = worker_env(url)
    env["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    child = subprocess.run(
        [sys.executable, "-m", "bench.approval_latency", "--child", str(count)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-3000:])
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["p50_over_baseline"] = result["p50_ms"] / result["baseline_p50_ms"]
    print(
        f"approval_latency: {count} approvals, POST returned -> next step ran:"
        f" p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms (target p50 <= 30 ms);"
        f" bare emit_event baseline p50 {result['baseline_p50_ms']:.1f} ms,"
        f" p99 {result['baseline_p99_ms']:.1f} ms; ratio {result['p50_over_baseline']:.2f}"
    )
    return result


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        run()
