"""The overview follows a real worker's progress by itself, without a reload."""

import pytest
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tests.browser.shell import log_in, member, screenshot
from tests.helpers import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_queue():
    engine.drop_queue("demo")  # other transactional tests may have left tasks in it
    engine.create_queue("demo")
    yield "demo"
    engine.drop_queue("demo")


def test_counts_and_sparkline_follow_a_running_worker(live_server, page, demo_queue):
    member("ann", "demo")
    for i in range(3):
        spawn("demo.two_steps", {"i": i}, tenant="demo")
    spawn("demo.two_steps", {"i": 99}, tenant="other")  # not ann's to see

    log_in(page, live_server.url, "ann")
    row = page.locator('tr[data-queue="demo"]')
    expect(row.locator('td[data-state="pending"]')).to_have_text("3")
    expect(row.locator('td[data-state="completed"]')).to_have_text("0")
    expect(row.locator("td[data-backlog-age] time")).to_be_visible()
    # A marker a reload would wipe out.
    page.evaluate("window.__sameDocument = true")

    with WorkerProcess("--queue", demo_queue, "--poll-interval", "0.05"):
        expect(row.locator('td[data-state="completed"]')).to_have_text("3", timeout=30_000)
    expect(row.locator('td[data-state="pending"]')).to_have_text("0")
    expect(row.locator("td[data-backlog-age]")).to_contain_text("nothing pending")
    sparkline = row.locator('svg.sparkline[role="img"]')
    expect(sparkline).to_have_attribute(
        "aria-label", "completed 3, failed 0 in the last hour", timeout=10_000
    )
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    expect(page.locator('[data-total="workers"]')).to_have_text("0", timeout=10_000)
    screenshot(page, "overview-live.png")


HIDE = (
    "Object.defineProperty(document, 'visibilityState', {value: %r, configurable: true});"
    "document.dispatchEvent(new Event('visibilitychange'))"
)


def test_polling_stops_while_the_tab_is_hidden(live_server, page, demo_queue):
    """With Playwright's fake clock, time passes only when the test says so."""
    member("ann", "demo")
    page.clock.install()
    log_in(page, live_server.url, "ann")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/partials/queues" in r.url else None)
    row = page.locator('tr[data-queue="demo"]')
    expect(row.locator('td[data-state="pending"]')).to_have_text("0")

    spawn("demo.two_steps", {"i": 1}, tenant="demo")
    page.clock.run_for(2_100)  # one poll period
    expect(row.locator('td[data-state="pending"]')).to_have_text("1")
    polled_while_visible = len(polls)
    assert polled_while_visible >= 1

    page.evaluate(HIDE % "hidden")  # the tab goes to the background
    spawn("demo.two_steps", {"i": 2}, tenant="demo")
    page.clock.run_for(10_000)  # five poll periods: none may ask the server
    page.evaluate(HIDE % "visible")  # back in front: refreshed at once
    expect(row.locator('td[data-state="pending"]')).to_have_text("2")
    # Requests are reported in order: the only one after hiding is the visibility refresh.
    assert len(polls) == polled_while_visible + 1, polls
