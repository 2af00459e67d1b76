"""Times, durations and engine reasons on the task page and the runs list (server side)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from absurd_core import engine, spawn
from tenants.models import Membership, Tenant
from tests.helpers import raw_connection
from tests.timeline_seed import seed_timeline_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client():
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("olga", password="a-long-password-1")
    Membership.objects.create(user=user, tenant=tenant, role="viewer")
    client = Client()
    client.force_login(user)
    yield client
    engine.drop_queue("demo")


def row_of(html: str, task_id) -> str:
    match = re.search(rf'<tr data-task="{task_id}".*?</tr>', html, re.S)
    assert match, f"no row for {task_id}"
    return match.group(0)


def test_the_runs_list_shows_durations_and_relative_spawn_times(client):
    seeded = seed_timeline_task()  # first start T0, ended T0 + 15 s
    running = spawn("demo.two_steps", {"i": 2}, tenant="acme")
    with raw_connection() as conn:
        conn.execute("select 1 from absurd.claim_task('demo', 'w', 60, 100)")
    pending = spawn("demo.two_steps", {"i": 3}, tenant="acme")
    html = client.get("/runs/").content.decode()
    assert '<th scope="col" class="text-end d-none d-sm-table-cell">Duration</th>' in html
    assert re.search(r'class="[^"]*run-duration">15 s</td>', row_of(html, seeded.task_id))
    assert re.search(r'run-duration">[^<]* so far</td>', row_of(html, running.task_id))
    assert 'run-duration">—</td>' in row_of(html, pending.task_id)
    spawned = re.search(r"<time [^>]*data-reltime>([^<]*)</time>", row_of(html, pending.task_id))
    assert spawned and re.fullmatch(r"just now|\d+ s ago", spawned.group(1))


def test_the_task_page_shows_end_times_durations_and_explains_claim_timeouts(client):
    task = seed_timeline_task()
    html = client.get(f"/tasks/{task.task_id}/").content.decode()
    # The failed attempt's end (its failed_at) with the ms on hover; both durations.
    assert 'title="2030-03-01 12:00:12.500 UTC"' in html
    assert re.search(r'class="run-duration">2.0 s</td>', html)  # attempt 2: 13 s -> 15 s
    assert re.search(r'class="run-duration">12 s</td>', html)  # attempt 1: 0 -> 12.5 s
    assert re.search(r'id="task-duration">15 s</dd>', html)
    assert "$ClaimTimeout" in html
    assert "did not finish or extend its lease in time" in html
    assert html.count('class="step-row') == 7 and 'id="step-timeline-total">15.000 s' in html
    assert "sleep until 12:00:10.000" in html
    # The event log's rows to the millisecond.
    assert ">12:00:12.500</time>" in html


def test_a_claim_timeout_dead_letter_is_explained_beside_its_name(client):
    task = seed_timeline_task()
    # Attempt 2 completed in the seed; fail a one-attempt task with the engine's reason.
    with raw_connection() as conn:
        (lost,) = conn.execute(
            "select task_id from absurd.spawn_task('demo', 'demo.two_steps', '{}'::jsonb,"
            ' \'{"headers": {"tenant": "acme"}, "max_attempts": 1}\'::jsonb)'
        ).fetchone()
        (run_id,) = conn.execute(
            "select run_id from absurd.claim_task('demo', 'w', 60, 10) where task_id = %s",
            (lost,),
        ).fetchone()
        conn.execute(
            "select absurd.fail_run('demo', %s, %s::jsonb, null)",
            (run_id, '{"name": "$ClaimTimeout", "message": "worker did not finish task"}'),
        )
    html = client.get("/dead-letters/").content.decode()
    assert "$ClaimTimeout" in html
    assert re.search(r'class="small text-body-secondary engine-reason">The worker did not', html)
    assert str(task.task_id) not in html  # completed in the end: no dead letter
