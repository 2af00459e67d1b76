"""The dashboard shell in a real browser: dark mode, keyboard shortcuts, a phone-sized
screen, accessible names, and the Queues page's actions with their toasts."""

import pytest
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tests.browser.shell import (
    assert_controls_have_names,
    horizontal_overflow,
    log_in,
    member,
    open_menu,
    screenshot,
)
from tests.helpers import pause_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "a_rather_long_queue_name_to_test_the_narrow_layout_00001"  # 56 bytes
CREATED = "q_browser_created"


@pytest.fixture
def queues():
    names = ["demo", LONG]
    for name in [*names, CREATED]:
        engine.drop_queue(name)  # other transactional tests may have left tasks in them
    for name in names:
        engine.create_queue(name)
    pause_queue(LONG, "user:ops")
    for i in range(2):
        spawn("demo.two_steps", {"i": i}, tenant="demo")
    yield names
    for name in [*names, CREATED]:
        engine.drop_queue(name)


def test_dark_mode_toggle_survives_a_reload(live_server, page, queues):
    member("ann", "demo")
    log_in(page, live_server.url, "ann")
    html = page.locator("html")
    expect(html).to_have_attribute("data-bs-theme", "light")  # the browser prefers light
    toggle = page.get_by_role("button", name="Switch between dark and light mode")
    toggle.click()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator('tr[data-queue="demo"]')).to_be_visible()
    screenshot(page, "dark-mode.png")
    page.goto(f"{live_server.url}/queues/")  # every page, not only the one toggled on
    expect(html).to_have_attribute("data-bs-theme", "dark")
    page.get_by_role("button", name="Switch between dark and light mode").click()
    expect(html).to_have_attribute("data-bs-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-bs-theme", "light")


def test_keyboard_shortcuts(live_server, page, queues):
    member("ann", "demo")
    log_in(page, live_server.url, "ann")
    # log_in returns once the URL is the overview's; the shortcuts' listener comes with the
    # deferred dashboard.js, which has run once the page's load event fired.
    page.wait_for_load_state("load")
    page.keyboard.press("g")
    page.keyboard.press("r")
    expect(page).to_have_url(f"{live_server.url}/runs/")
    page.keyboard.press("g")
    page.keyboard.press("q")
    expect(page).to_have_url(f"{live_server.url}/queues/")
    page.keyboard.press("g")
    page.keyboard.press("o")
    expect(page).to_have_url(f"{live_server.url}/")

    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Runs")
    expect(help_dialog).to_be_focused()  # shown: Bootstrap hands it the focus, and Escape
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()


def test_phone_width_has_no_horizontal_overflow_and_the_nav_collapses(live_server, browser, queues):
    member("pam", "ops", "admin", platform=True)  # a platform admin sees the most controls
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, live_server.url, "pam")
        expect(page.locator('tr[data-queue="demo"]')).to_be_visible()
        expect(page.locator(f'tr[data-queue="{LONG}"] [data-badge="paused"]')).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert horizontal_overflow(page) <= 0

        menu = page.get_by_role("button", name="Menu")
        runs = page.locator("#nav-main").get_by_role("link", name="Runs")
        expect(menu).to_be_visible()
        expect(runs).to_be_hidden()
        screenshot(page, "mobile-overview.png")
        open_menu(page)
        expect(runs).to_be_visible()
        assert horizontal_overflow(page) <= 0

        page.goto(f"{live_server.url}/queues/")
        expect(page.locator(f'section[data-queue="{LONG}"]')).to_be_visible()
        page.evaluate("document.querySelectorAll('main details').forEach(d => { d.open = true; })")
        expect(page.get_by_role("button", name=f"Drop queue {LONG}")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert horizontal_overflow(page) <= 0
        screenshot(page, "mobile-queues.png")
    finally:
        context.close()


def test_every_control_has_an_accessible_name(live_server, page, queues):
    member("pam", "ops", "admin", platform=True)
    log_in(page, live_server.url, "pam")
    expect(page.locator('tr[data-queue="demo"]')).to_be_visible()
    on_overview = assert_controls_have_names(page)
    page.goto(f"{live_server.url}/queues/")
    on_queues = assert_controls_have_names(page)
    # The sparklines, totals and nav on one; create, pause, cleanup, policy and drop on the other.
    assert on_overview >= 15 and on_queues >= 25, (on_overview, on_queues)


def test_queue_actions_give_feedback(live_server, page, queues):
    member("pam", "ops", "admin", platform=True)
    log_in(page, live_server.url, "pam")
    page.goto(f"{live_server.url}/queues/")

    # A hostile name: an inline error, nothing created.
    name = page.get_by_label("Queue name")
    name.fill("a; drop table x")
    page.get_by_role("button", name="Create queue").click()
    expect(page.locator("#create-queue .invalid-feedback")).to_contain_text("is not allowed")
    expect(name).to_have_value("a; drop table x")
    assert not engine.queue_exists(CREATED)

    page.get_by_label("Queue name").fill(CREATED)
    page.get_by_role("button", name="Create queue").click()
    toasts = page.locator("#toasts")
    expect(toasts).to_contain_text(f"Created queue {CREATED}.")
    section = page.locator(f'section[data-queue="{CREATED}"]')
    expect(section).to_be_visible()

    section.get_by_role("button", name=f"Pause {CREATED}").click()
    expect(toasts).to_contain_text(f"Paused {CREATED}")
    expect(section.locator('[data-badge="paused"]')).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page.locator(f'tr[data-queue="{CREATED}"] [data-badge="paused"]')).to_be_visible()

    page.goto(f"{live_server.url}/queues/")
    section.get_by_text("Drop this queue").click()
    confirm = section.get_by_label("Type the queue's name to confirm")
    confirm.fill("not-the-name")
    section.get_by_role("button", name=f"Drop queue {CREATED}").click()
    expect(section.locator(".invalid-feedback")).to_contain_text("nothing was dropped")
    assert engine.queue_exists(CREATED)
    section.get_by_label("Type the queue's name to confirm").fill(CREATED)
    section.get_by_role("button", name=f"Drop queue {CREATED}").click()
    expect(toasts).to_contain_text(f"Dropped queue {CREATED}")
    expect(section).to_have_count(0)
    assert not engine.queue_exists(CREATED)
