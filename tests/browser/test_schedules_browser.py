"""Schedules in the browser: create one, pause it, trigger it now and open the task it
spawned, at desktop width and at 390 px (no horizontal scrolling)."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine
from absurd_core.models import OperatorAction, Schedule
from tenants.models import Membership, Tenant
from tests.browser.shell import horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def operator():
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("ann", password="a-long-password-1")
    Membership.objects.create(user=user, tenant=tenant, role="operator")


@pytest.mark.parametrize("width", [1280, 390])
def test_create_pause_trigger_and_see_the_task(live_server, page, operator, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/schedules/")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_visible()

    page.locator("#create-schedule summary").click()
    form = page.locator("#create-schedule")
    form.get_by_label("Name").fill("nightly")
    form.get_by_label("Task").fill("demo.two_steps")
    form.get_by_label("Cron").fill("0 3 * * *")
    form.get_by_label("Time zone (IANA)").fill("Europe/Paris")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator("#toasts .toast")).to_contain_text("Created schedule nightly")
    card = page.locator("[data-schedule=nightly]")
    expect(card.locator("[data-words]")).to_contain_text("every day at 03:00 Europe/Paris")
    expect(card.locator("[data-next]")).to_contain_text("in ")

    card.get_by_role("button", name="Pause nightly").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#toasts .toast")).to_contain_text("Paused nightly")
    card = page.locator("[data-schedule=nightly]")
    expect(card.locator("[data-badge=paused]")).to_be_visible()
    assert not Schedule.objects.get(name="nightly").enabled

    card.get_by_role("button", name="Trigger nightly now").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#toasts .toast")).to_contain_text("Spawned nightly's task now.")
    assert horizontal_overflow(page) <= 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"schedules-{width}.png"), full_page=True)

    page.locator("[data-schedule=nightly] [data-last-task]").click()
    expect(page.locator("#spawned-by")).to_contain_text("Spawned by schedule nightly, slot ")
    assert list(
        OperatorAction.objects.filter(action__startswith="schedule.").values_list(
            "action", flat=True
        )
    ) == ["schedule.create", "schedule.pause", "schedule.trigger"]
