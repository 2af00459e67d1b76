"""The approvals page in a real browser at 1280, 1024 and 390 px: the dashboard's heading,
outcome badges, the task link, a readable audit trail, no tenant box, no horizontal scroll."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine, spawn
from approvals import decisions
from approvals.requests import create_request
from tenants.models import Membership, Tenant
from tests.approvals.conftest import links_for
from tests.browser.shell import horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "a-long-password-1"


def _request(tenant, title, approvers=("a@example.com",)):
    task = spawn("demo.two_steps", {"i": 1}, tenant=tenant)
    request = create_request(
        tenant=tenant, queue="demo", task_id=task.task_id, run_id=None,
        task_name="demo.two_steps", step_key="approval-request", title=title,
        description="A long enough description of what is asked", approvers=list(approvers),
        policy="any", expires_in=timedelta(hours=1), context={"amount": "120.00 EUR"},
        reject_on_expiry=True,
    )  # fmt: skip
    links_for(request)
    return request


@pytest.fixture
def approvals_world():
    engine.create_queue("demo")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="globex", name="Globex")
    user = get_user_model().objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=user, tenant=acme, role="operator")
    approved = _request("acme", "Buy twelve ergonomic office chairs for the new floor")
    rejected = _request("acme", "Fly first class to the conference")
    pending = _request("acme", "Pay the invoice", approvers=["a@example.com", "b@example.org"])
    theirs = _request("globex", "Globex secret")
    decisions.decide(
        approved.tokens.get().pk, "approve", comment="fine, within budget", via="a@example.com"
    )
    decisions.decide(rejected.tokens.get().pk, "reject", comment="economy, please")
    return {"approved": approved, "rejected": rejected, "pending": pending, "theirs": theirs}


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_the_approvals_page(live_server, page, approvals_world, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/approval-requests/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
    expect(page).to_have_title("Approvals · Absurd Control")
    # Another tenant's request is not listed; there is no tenant box of the page's own.
    expect(page.locator("section[data-approval]")).to_have_count(3)
    expect(page.get_by_text("Globex secret")).to_have_count(0)
    expect(page.locator("main input[name=tenant]")).to_have_count(0)

    world = approvals_world
    badge = page.locator(f'[data-approval="{world["approved"].pk}"] .badge[data-state]')
    expect(badge).to_have_text("approved")
    expect(badge).to_have_class("badge text-bg-success")
    rejected = page.locator(f'[data-approval="{world["rejected"].pk}"] .badge[data-state]')
    expect(rejected).to_have_class("badge text-bg-danger")
    pending = page.locator(f'[data-approval="{world["pending"].pk}"] .badge[data-state]')
    expect(pending).to_have_class("badge text-bg-primary")
    # Outcome colours really differ on screen.
    colours = {
        loc.evaluate("e => getComputedStyle(e).backgroundColor")
        for loc in (badge, rejected, pending)
    }
    assert len(colours) == 3

    # The audit trail reads as sentences.
    card = page.locator(f'[data-approval="{world["approved"].pk}"]')
    card.locator("details[data-audit] summary").click()
    trail = card.locator("details[data-audit] ol")
    expect(trail).to_contain_text("Asked a@example.com (any one decides)")
    expect(trail).to_contain_text("a@example.com approved: “fine, within budget”")
    expect(trail).to_contain_text("Settled: approved")
    assert "{'" not in trail.inner_text()

    assert horizontal_overflow(page) == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"approvals-{width}.png"), full_page=True)

    # The state pills filter; the task id leads to the task page.
    page.get_by_role("link", name="Rejected").click()
    expect(page.locator("section[data-approval]")).to_have_count(1)
    page.locator(f'[data-approval="{world["rejected"].pk}"] a[data-task-link]').click()
    expect(page).to_have_url(f"{live_server.url}/tasks/{world['rejected'].task_id}/")
