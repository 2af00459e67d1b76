"""The Content-Security-Policy in Chromium: the main pages run with it and break nothing.

Chromium enforces the header, so anything the templates still did inline (a script, an
``onchange=``, a ``style=``, htmx's own indicator ``<style>``) would be blocked and reported as a
``securitypolicyviolation`` event and a console error. Each page here is also used: htmx polls,
the theme toggle, the tenant switcher and confirmations, whose inline handlers moved to
static/dashboard/dashboard.js.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tenants.api_keys import issue_key
from tenants.models import ApiKey, Membership, Tenant
from tests.approvals.conftest import make_request  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-password-1"

# Recorded before any page script runs (Playwright's init scripts are not subject to the CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


class CspWatch:
    """Every CSP violation a page reports, by event and by console message."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        self.events: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def _collect(self):
        if self.page.url.startswith("http"):
            self.events += self.page.evaluate("window.__cspViolations || []")

    def goto(self, url):
        self._collect()  # the next document starts a new list
        response = self.page.goto(url)
        # The document itself carries the policy (without it there would be nothing to check).
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, url
        assert "unsafe-inline" not in policy
        return response

    def assert_none(self):
        self._collect()
        assert self.events == [] and self.console == [], (self.events, self.console)


@pytest.fixture
def operator():
    engine.create_queue("demo")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    user = get_user_model().objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=user, tenant=acme, role="admin")
    Membership.objects.create(user=user, tenant=globex, role="viewer")
    return user


def log_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_overview_runs_and_task_pages_run_under_the_csp(live_server, page, operator):
    task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    watch = CspWatch(page)
    log_in(page, live_server)

    watch.goto(f"{live_server.url}/")
    # htmx is loaded and polls the queue table (a request it makes by itself).
    with page.expect_response(re.compile(r"/partials/queues")):
        pass
    # dashboard.js runs: the theme toggle flips the theme.
    before = page.locator("html").get_attribute("data-bs-theme")
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).not_to_have_attribute("data-bs-theme", before)

    watch.goto(f"{live_server.url}/runs/")
    expect(page.locator(f'a[href="/tasks/{task.task_id}/"]')).to_be_visible()

    watch.goto(f"{live_server.url}/tasks/{task.task_id}/")
    with page.expect_response(re.compile(rf"/tasks/{task.task_id}/live")):
        pass
    watch.assert_none()


def test_tenant_switcher_and_workers_switch_submit_without_inline_handlers(
    live_server, page, operator
):
    watch = CspWatch(page)
    log_in(page, live_server)
    watch.goto(f"{live_server.url}/runs/")
    page.locator("#tenant-switch").select_option("globex")
    expect(page).to_have_url(f"{live_server.url}/runs/")
    expect(page.locator("#tenant-switch")).to_have_value("globex")

    watch.goto(f"{live_server.url}/workers/")
    page.locator("#show-stopped").check()
    expect(page).to_have_url(re.compile(r"/workers/\?stopped=1$"))
    watch.assert_none()


def test_confirmations_ask_first_and_cancel_sends_nothing(live_server, page, operator):
    issued = issue_key(Tenant.objects.get(slug="acme"), "deploy-bot")
    watch = CspWatch(page)
    log_in(page, live_server)
    watch.goto(f"{live_server.url}/settings/")
    questions = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Revoke key deploy-bot").click()
    assert questions == ["Revoke deploy-bot now?"]
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is None

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke key deploy-bot").click()
    expect(page.get_by_text(re.compile(r"revoked \d{4}-"))).to_be_visible()
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is not None
    watch.assert_none()


def test_the_approval_decision_page_runs_under_its_stricter_csp(
    live_server,
    page,
    make_request,  # noqa: F811
):
    request, links = make_request(approvers=["a@example.com"])
    watch = CspWatch(page)
    response = watch.goto(f"{live_server.url}/approvals/{links['a@example.com']}")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy + ";" and "nonce-" not in policy
    assert "no-store" in response.headers["cache-control"]
    expect(page.get_by_role("heading", name="Pay the invoice")).to_be_visible()
    # The layout's classes replaced style attributes: the column is still at most 40rem wide.
    width = page.locator("main > div").first.evaluate("e => getComputedStyle(e).maxWidth")
    assert width == "640px"

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Your answer was recorded: Approve")).to_be_visible()
    watch.assert_none()
    request.refresh_from_db()
    assert request.state == "approved"


def test_the_api_reference_page_runs_under_the_csp(live_server, page):
    watch = CspWatch(page)
    watch.goto(f"{live_server.url}/api/v1/docs")
    # Swagger UI rendered the schema it fetched (its scripts ran, from ninja's static files).
    expect(page.get_by_text("/api/v1/health").first).to_be_visible()
    watch.assert_none()
