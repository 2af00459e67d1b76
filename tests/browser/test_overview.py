"""Log in through the real login form and watch the overview update itself."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tenants.models import Membership, Tenant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_and_see_demo_queue_counts_update_live(live_server, page):
    engine.drop_queue("demo")  # other transactional tests may have left tasks in it
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="demo", name="Demo")
    user = get_user_model().objects.create_user("ann", password="a-long-password-1")
    Membership.objects.create(user=user, tenant=tenant, role="viewer")
    for i in range(2):
        spawn("demo.two_steps", {"i": i}, tenant="demo")

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Log in").click()

    row = page.locator('tr[data-queue="demo"]')
    expect(row).to_be_visible()
    expect(row.locator('td[data-state="pending"]')).to_have_text("2")
    expect(row.locator('td[data-state="total"]')).to_have_text("2")

    # No reload: the htmx poll picks up a new task by itself.
    spawn("demo.two_steps", {"i": 3}, tenant="demo")
    expect(row.locator('td[data-state="pending"]')).to_have_text("3", timeout=10_000)
