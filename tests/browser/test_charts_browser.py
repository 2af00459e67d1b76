"""The overview chart and the click-through links in Chromium (issue 19, items 4, 5, 9):
at 1280, 1024 and 390 px the chart draws (a canvas, with points that carry data), the
range switch reloads it with coarser points, the counts lead to the runs list filtered
by queue, state and tenant, and the queues page's dense table of 30 queues stays inside
a phone's width. Under the real Content-Security-Policy: any blocked script or style
fails the test."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tests.browser.shell import horizontal_overflow, log_in, member, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = "charts_q"
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def _q(sql, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _finish(tenant, name, *, fail=False, at=None):
    if at is not None:
        _q("select set_config('absurd.fake_now', %s, false)", at.isoformat())
    try:
        spawn(name, {}, queue=QUEUE, tenant=tenant, max_attempts=1)
        (run_id,) = _q("select run_id from absurd.claim_task(%s, 'w', 60, 1)", QUEUE)[0]
        if fail:
            _q('select absurd.fail_run(%s, %s, \'{"name": "E"}\'::jsonb, null)', QUEUE, run_id)
        else:
            _q("select absurd.complete_run(%s, %s, '{}'::jsonb)", QUEUE, run_id)
    finally:
        _q("select set_config('absurd.fake_now', '', false)")


@pytest.fixture
def seeded():
    engine.drop_queue(QUEUE)
    engine.create_queue(QUEUE)
    member("cara", "demo", "viewer")
    for _ in range(3):
        _finish("demo", "demo.report")
    _finish("demo", "demo.report", fail=True)
    _finish("demo", "demo.mail", at=timezone.now() - timedelta(hours=3))  # 24 h, not 1 h
    _finish("other", "other.secret")  # another tenant's: never shown to cara
    for _ in range(2):
        spawn("demo.report", {}, queue=QUEUE, tenant="demo")  # pending
    spawn("demo.report", {}, queue=QUEUE, tenant="other")
    yield
    engine.drop_queue(QUEUE)


def _violations(page):
    return page.evaluate("window.__cspViolations || []")


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_chart_draws_switches_range_and_filters_by_queue(live_server, browser, seeded, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 500)
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        log_in(page, live_server.url, "cara")
        charts = page.locator("#charts")
        expect(charts).to_have_attribute("data-loaded", "1h", timeout=15_000)
        box = page.locator("#throughput-chart")
        expect(box.locator("canvas")).to_have_count(1)
        assert box.locator("canvas").bounding_box()["width"] > 100
        expect(box).to_have_attribute("data-points", "60")
        assert int(box.get_attribute("data-nonzero")) >= 1  # points with data
        expect(page.locator("#chart-summary")).to_contain_text("3 completed, 1 failed, 0 retried")
        durations = page.locator("#durations tbody tr")
        expect(durations).to_have_count(1)
        expect(durations.first).to_have_attribute("data-task-name", "demo.report")
        expect(page.locator("#durations")).not_to_contain_text("other.secret")
        assert horizontal_overflow(page) <= 0
        screenshot(page, f"overview-chart-{width}.png")

        # 24 hours: five-minute points, and the task of three hours ago is in.
        page.locator('label[for="chart-range-24h"]').click()
        expect(charts).to_have_attribute("data-loaded", "24h", timeout=15_000)
        expect(box).to_have_attribute("data-points", "288")
        expect(page.locator("#chart-summary")).to_contain_text("4 completed, 1 failed")
        expect(page.locator("#durations tbody tr")).to_have_count(2)
        assert parse_qs(urlsplit(page.url).query)["range"] == ["24h"]
        # 7 days: hours.
        page.locator('label[for="chart-range-7d"]').click()
        expect(charts).to_have_attribute("data-loaded", "7d", timeout=15_000)
        expect(box).to_have_attribute("data-points", "168")
        expect(box.locator("canvas")).to_have_count(1)
        # The queue filter; a reload keeps the choice (it is in the URL).
        page.locator("#chart-queue").select_option(QUEUE)
        expect(box).to_have_attribute("data-queue", QUEUE, timeout=15_000)
        page.reload()
        expect(charts).to_have_attribute("data-loaded", "7d", timeout=15_000)
        expect(page.locator("#chart-queue")).to_have_value(QUEUE)
        assert horizontal_overflow(page) <= 0
        assert _violations(page) == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_counts_lead_to_the_runs_they_count(live_server, browser, seeded, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 500)
    page = context.new_page()
    try:
        log_in(page, live_server.url, "cara")
        row = page.locator(f'tr[data-queue="{QUEUE}"]')
        row.locator('td[data-state="pending"] a').click()
        expect(page).to_have_url(f"{live_server.url}/runs/?queue={QUEUE}&state=pending&tenant=demo")
        expect(page.locator("tr[data-task]")).to_have_count(2)  # demo's 2, not other's
        expect(page.locator("select#id_queue")).to_have_value(QUEUE)

        page.goto(f"{live_server.url}/queues/")
        row = page.locator(f'tr[data-queue="{QUEUE}"]')
        expect(row.locator('td[data-state="completed"] a')).to_have_text("4")
        row.locator('td[data-state="failed"] a').click()
        expect(page).to_have_url(f"{live_server.url}/runs/?queue={QUEUE}&state=failed&tenant=demo")
        expect(page.locator("tr[data-task]")).to_have_count(1)
    finally:
        context.close()


def test_thirty_queues_in_a_dense_table_fit_a_phone(live_server, browser, seeded):
    names = [f"dense_{i:02d}_{'x' * (i % 4) * 8}" for i in range(30)]
    for name in names:
        engine.create_queue(name)
    member("pam", "ops", "admin", platform=True)
    try:
        for width in (1280, 390):
            context = browser.new_context(
                viewport={"width": width, "height": 900}, is_mobile=width < 500
            )
            page = context.new_page()
            try:
                log_in(page, live_server.url, "pam")
                page.goto(f"{live_server.url}/queues/")
                table = page.locator("#queue-table")
                expect(table.locator("tbody tr")).to_have_count(len(names) + 1 + _others())
                assert horizontal_overflow(page) <= 0
                if width == 1280:
                    # One line per queue: thirty rows are shorter than three of the old cards.
                    first = table.locator(f'tr[data-queue="{names[0]}"]').bounding_box()
                    assert first["height"] < 60, first
                else:
                    # Stacked on a phone: each count labelled, inside the viewport.
                    cell = table.locator(f'tr[data-queue="{QUEUE}"] td[data-state="pending"]')
                    box = cell.bounding_box()
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width
                screenshot(page, f"queues-{width}.png")
            finally:
                context.close()
    finally:
        for name in names:
            engine.drop_queue(name)


def _others() -> int:
    """Queues other than ours and the thirty (e.g. demo, left by other tests)."""
    return len([q for q in engine.list_queues() if q != QUEUE and not q.startswith("dense_")])
