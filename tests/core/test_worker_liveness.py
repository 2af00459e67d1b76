"""Worker liveness with real runworker processes: a worker killed with SIGKILL mid-run.

The workers page shows it dead, with in flight read from the engine (1 while it still
holds the run's lease, 0 once the run finished elsewhere), and the runs list and the
task page mark the run it holds with its lease expiry. A run that went to sleep counts
as processed.
"""

import re
import signal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.models import Worker
from tests.helpers import WorkerProcess, role_user, terminal_result, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = reverse("dashboard:workers")
RUNS = reverse("dashboard:runs")
HELD = re.compile(
    r"held by w-doomed, which stopped responding 4\d s ago; lease expires in \d+ s,"
    r" then the run is retried"
)


@pytest.fixture(autouse=True)
def queues():
    # A fresh queue: a run another test left behind would keep a worker busy here.
    engine.drop_queue("testq")
    engine.create_queue("testq")
    yield
    engine.drop_queue("testq")


@pytest.fixture
def root():
    client = Client()
    client.force_login(role_user(superuser=True))
    return client


def _row(html, marker):
    return html.split(marker, 1)[1].split("</tr>", 1)[0]


def in_flight(row):
    return re.search(r'data-counter="in_flight"[^>]*>([^<]*)<', row).group(1)


def _lease(task_id):
    query = sql.SQL(
        "select claimed_by, claim_expires_at from absurd.r_testq"
        " where task_id = %s and state = 'running'"
    )
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), [task_id])
        return cursor.fetchone()


def test_kill_9_mid_run_dead_worker_shown_with_lease_then_in_flight_cleared(side_effects, root):
    spawned = spawn("test.pause_between_steps", {"seconds": 120}, tenant="t1")
    doomed = WorkerProcess(
        "--queue", "testq", "--worker-id", "w-doomed", "--claim-timeout", "10",
        "--poll-interval", "0.1",
    )  # fmt: skip
    with doomed:
        wait_for(lambda: side_effects(spawned.task_id, "one") == 1)
        # Its heartbeat reported the run in flight: the stale figure a dead worker keeps.
        wait_for(lambda: Worker.objects.filter(worker_id="w-doomed", in_flight=1).exists())
        doomed.stop(signal.SIGKILL)
    # It has been silent for 40 s (the registry's clock, fast-forwarded rather than waited).
    with connection.cursor() as cursor:
        cursor.execute(
            "update absurd_control_worker set last_seen = now() - interval '40 seconds'"
            " where worker_id = 'w-doomed'"
        )
    claimer, lease = _lease(spawned.task_id)
    assert claimer == "w-doomed"

    html = root.get(WORKERS).content.decode()
    row = _row(html, 'data-worker="w-doomed"')
    assert 'data-status="dead"' in html.split('data-worker="w-doomed"', 1)[1][:60]
    assert in_flight(row) == "1"  # the engine: it still holds the run's lease

    runs_html = root.get(RUNS).content.decode()
    run_row = _row(runs_html, f'data-task="{spawned.task_id}"')
    assert "data-dead-hold" in run_row
    assert HELD.search(run_row), run_row
    assert lease > timezone.now()  # the page was read while the lease still ran

    task_html = root.get(reverse("dashboard:task", args=[spawned.task_id])).content.decode()
    assert HELD.search(task_html)

    # Another worker retries the run once the lease has expired, and finishes it.
    with WorkerProcess("--queue", "testq", "--worker-id", "w-rescuer", "--poll-interval", "0.1"):
        result = wait_for(lambda: terminal_result("testq", spawned.task_id), timeout=60)
    assert result.state == "completed"
    assert Worker.objects.get(worker_id="w-doomed").in_flight == 1  # its last heartbeat
    html = root.get(WORKERS).content.decode()
    row = _row(html, 'data-worker="w-doomed"')
    assert in_flight(row) == "0"
    assert ">dead<" in row
    # A finished task is held by nobody.
    task_html = root.get(reverse("dashboard:task", args=[spawned.task_id])).content.decode()
    assert "data-dead-hold" not in task_html


def test_live_worker_holding_a_run_is_not_marked(side_effects, root):
    spawned = spawn("test.pause_between_steps", {"seconds": 120}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--worker-id", "w-alive", "--grace", "0.5"):
        wait_for(lambda: side_effects(spawned.task_id, "one") == 1)
        wait_for(lambda: Worker.objects.filter(worker_id="w-alive", in_flight=1).exists())
        runs_html = root.get(RUNS).content.decode()
        assert "data-dead-hold" not in _row(runs_html, f'data-task="{spawned.task_id}"')
        row = _row(root.get(WORKERS).content.decode(), 'data-worker="w-alive"')
        assert in_flight(row) == "1"


def test_a_run_that_went_to_sleep_counts_as_processed(root):
    sleeping = spawn("test.sleep_long", {}, tenant="t1")
    waiting = spawn("test.wait_event", {"event": "never"}, tenant="t1")
    with WorkerProcess("--queue", "testq", "--worker-id", "w-sleepy", "--poll-interval", "0.1"):
        wait_for(lambda: engine.get_task_result("testq", sleeping.task_id).state == "sleeping")
        wait_for(lambda: engine.get_task_result("testq", waiting.task_id).state == "sleeping")
        # The next heartbeat (every 5 s) reports both suspensions as processed.
        worker = wait_for(
            lambda: Worker.objects.filter(worker_id="w-sleepy", processed=2).first(), timeout=30
        )
        assert worker.failed == 0 and worker.in_flight == 0
        row = _row(root.get(WORKERS).content.decode(), 'data-worker="w-sleepy"')
        assert 'data-counter="processed">2<' in row
