"""The task page in a real browser: cancel a sleeping task, emit the event a task waits for."""

import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tenants.models import Membership, Tenant
from tests.helpers import WorkerProcess, raw_connection, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "a-long-password-1"
FAST = ("--poll-interval", "0.05", "--concurrency", "2")


@pytest.fixture
def operator():
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role="operator")
    return user


def log_in(page, live_server, path):
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}{path}")


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_cancel_a_sleeping_task(live_server, page, operator):
    task = spawn("demo.sleep", {"seconds": 3600}, tenant="acme")
    # Asleep as a worker would leave it: claimed, then scheduled an hour ahead.
    with raw_connection() as conn:
        (run_id,) = conn.execute(
            "select run_id from absurd.claim_task('demo', 'w-browser', 60, 1000)"
            " where task_id = %s",
            (task.task_id,),
        ).fetchone()
        conn.execute("select absurd.schedule_run('demo', %s, now() + interval '1 hour')", (run_id,))

    log_in(page, live_server, f"/tasks/{task.task_id}/")
    expect(page.locator("#task-state")).to_have_text("sleeping")
    expect(page.locator("#wait-until")).to_be_visible()

    page.get_by_role("button", name="Cancel task").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel this sleeping task?")
    dialog.get_by_role("button", name="Confirm").click()

    expect(page.locator("#task-state")).to_have_text("cancelled")
    expect(page.locator(".toast")).to_contain_text("Task cancelled.")
    # The operator's action, then the transition it caused (one transaction, one timestamp).
    entries = page.locator("#task-timeline > li")
    expect(entries.nth(-2)).to_have_attribute("data-kind", "cancel")
    expect(entries.nth(-2)).to_contain_text("user:olga")
    expect(entries.nth(-1)).to_have_attribute("data-kind", "cancelled")
    expect(page.locator("#live-status")).to_have_text("Finished: this page no longer updates.")
    screenshot(page, "task-cancel.png")
    assert engine.get_task_result("demo", task.task_id).state == "cancelled"


def test_emit_the_awaited_event_from_the_wait_form(live_server, page, operator):
    name = f"go-{uuid.uuid4().hex[:8]}"
    task = spawn("demo.wait_event", {"event": name}, tenant="acme")
    event = f"tenant:acme:{name}"  # the context waits in the task's tenant's namespace
    with WorkerProcess("--queue", "demo", *FAST):
        wait_for(lambda: engine.get_task_result("demo", task.task_id).state == "sleeping")

        log_in(page, live_server, f"/tasks/{task.task_id}/")
        expect(page.locator("#wait-event")).to_have_text(event)
        payload = page.get_by_label("Payload (JSON)")
        payload.fill("{not json")
        page.get_by_role("button", name="Emit event").click()
        # Checked in the browser first: no dialog, nothing sent.
        expect(page.get_by_role("dialog")).to_be_hidden()
        payload.fill('{"answer": 42}')
        page.get_by_role("button", name="Emit event").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Emit the event {event}")
        dialog.get_by_role("button", name="Confirm").click()

        expect(page.locator(".toast")).to_contain_text(f"Emitted '{event}'.")
        # The worker resumes the task; the page polls until it is finished.
        expect(page.locator("#task-state")).to_have_text("completed", timeout=20_000)
        expect(page.locator("#task-result")).to_contain_text('"answer": 42')
        expect(page.locator('#task-timeline [data-kind="emit_event"]')).to_contain_text("user:olga")
        screenshot(page, "task-emit.png")
    assert engine.get_task_result("demo", task.task_id).result == {"answer": 42}
