"""The runs page in a real browser: log in, filter, open a task, bulk-cancel a selection."""

import re
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tenants.models import Membership, Tenant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def runs_world():
    queue = f"rb_{uuid.uuid4().hex[:10]}"
    engine.create_queue(queue)
    slug = f"acme{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(slug=slug, name="Acme")
    user = get_user_model().objects.create_user("olga", password="a-long-password-1")
    Membership.objects.create(user=user, tenant=tenant, role="operator")
    ids = [
        spawn(name, {"n": n}, tenant=slug, queue=queue).task_id
        for n, name in enumerate(["invoice.send", "invoice.send", "report.build"])
    ]
    yield queue, ids, slug
    engine.drop_queue(queue)


def _log_in(page, live_server):
    page.goto(f"{live_server.url}/runs/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()


def test_filter_runs_and_open_a_task(live_server, page, runs_world):
    queue, ids, _slug = runs_world
    _log_in(page, live_server)

    page.get_by_label("Queue").select_option(queue)
    page.get_by_label("Task name").fill("report.build")
    page.get_by_role("button", name="Filter").click()
    # The filter lives in the URL (htmx pushes it), and only the matching task is listed.
    expect(page).to_have_url(re.compile(rf"queue={queue}.*task=report\.build"))
    rows = page.locator("#runs-rows tr[data-task]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-task", str(ids[2]))
    expect(page.locator("#live-status")).to_have_text(re.compile("Live"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs.png"), full_page=True)

    # A bad value is told inline, by its field, without leaving the page.
    page.get_by_label("Spawned").select_option("custom")
    page.get_by_label("From", exact=True).fill("2026-01-02T00:00")
    page.get_by_label("To", exact=True).fill("2026-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("The end must be after the start.")).to_be_visible()
    page.get_by_label("Spawned").select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#runs-rows tr[data-task]")).to_have_count(1)

    # A bookmark of the URL shows the same list.
    page.reload()
    expect(page.locator("#runs-rows tr[data-task]")).to_have_count(1)

    page.get_by_role("link", name="report.build", exact=True).click()  # not its filter chip
    expect(page).to_have_url(f"{live_server.url}/tasks/{ids[2]}/")
    expect(page.locator("h1")).to_be_visible()
    assert page.title()


def test_select_and_cancel_with_confirmation_and_toast(live_server, page, runs_world):
    queue, ids, _slug = runs_world
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/runs/?queue={queue}&task=invoice.send")
    expect(page.locator("#runs-rows tr[data-task]")).to_have_count(2)
    cancel_selected = page.get_by_role("button", name="Cancel selected")
    expect(cancel_selected).to_be_disabled()

    page.get_by_label(f"Select invoice.send {ids[0]}").check()
    expect(page.locator("#selection-count")).to_contain_text("1 selected")
    cancel_selected.click()

    expect(page.locator("#bulk-question")).to_have_text("Cancel 1 selected task?")
    page.locator("#theme-toggle").click()  # and in dark mode
    page.screenshot(path=str(ARTIFACTS / "runs-confirm.png"))
    page.get_by_role("button", name="Cancel 1 task").click()

    expect(page.locator("#toasts")).to_contain_text("Cancelled 1 task.")
    expect(page).to_have_url(re.compile(rf"/runs/\?queue={queue}&task=invoice.send$"))
    expect(page.locator(f'tr[data-task="{ids[0]}"]')).to_have_attribute("data-state", "cancelled")
    assert engine.get_task_result(queue, ids[1]).state == "pending"


def test_live_poll_shows_new_tasks_and_can_be_paused(live_server, page, runs_world):
    queue, _ids, slug = runs_world
    page.set_viewport_size({"width": 390, "height": 844})
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/runs/?queue={queue}")
    rows = page.locator("#runs-rows tr[data-task]")
    expect(rows).to_have_count(3)
    spawn("late.one", {}, tenant=slug, queue=queue)
    expect(rows).to_have_count(4, timeout=10_000)  # no reload: the poll brought it
    page.screenshot(path=str(ARTIFACTS / "runs-390.png"), full_page=True)

    page.get_by_role("button", name="Pause live updates").click()
    expect(page.locator("#live-status")).to_have_text("Paused")
    expect(page).to_have_url(re.compile(r"paused=1"))
    expect(page.locator("#runs-rows")).not_to_have_attribute("hx-trigger", re.compile("every"))
