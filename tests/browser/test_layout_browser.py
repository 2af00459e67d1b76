"""Issue 19 items 1 and 3 in a real browser at 1280, 1024 and 390 px: the navigation bar on
one line from 1024 px and a menu button below; the runs filter panel (collapsed on phones)
with removable chips; error pages and the Settings tenant picker inside the shell. (No page
scrolls sideways at 390 px: proven page by page in test_screenshots.py.)"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.demo_world import (
    AS_ALL,
    AS_DEMO,
    AS_VIEWER,
    build_demo_world,
    open_as,
)
from tests.browser.shell import horizontal_overflow, open_menu, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    return build_demo_world()


def _nav_rows(page) -> dict:
    """The navigation bar's height and the distinct tops of its links and tools."""
    return page.evaluate(
        """() => {
          const nav = document.querySelector('nav[aria-label=Main]');
          const items = nav.querySelectorAll(
            '.navbar-brand, #nav-main .nav-link, #tenant-switch, #theme-toggle, #nav-main button');
          const centres = new Set();
          for (const el of items) {
            const r = el.getBoundingClientRect();
            if (r.width > 0) centres.add(Math.round((r.top + r.bottom) / 2 / 6));
          }
          const link = nav.querySelector('#nav-main .nav-link').getBoundingClientRect();
          return {height: nav.getBoundingClientRect().height, rows: centres.size,
                  linkHeight: link.height, visible: link.width > 0};
        }"""
    )


@pytest.mark.parametrize("width", [1280, 1024])
@pytest.mark.parametrize("who", [AS_DEMO, AS_ALL])
def test_the_nav_is_one_line_from_1024_px(live_server, page, world, width, who):
    page.set_viewport_size({"width": width, "height": 800})
    open_as(page, live_server.url, who)
    rows = _nav_rows(page)
    # One row of links and tools, centred on one line; the bar no taller than one link
    # plus the navbar's own padding (Bootstrap: .5rem above and below, 1 px border).
    assert rows["rows"] == 1, rows
    assert rows["height"] <= rows["linkHeight"] + 2 * 8 + 1 + 4, rows
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    # The tenant switcher shows its whole label ("All tenants" is not cut).
    select = page.locator("#tenant-switch")
    assert select.evaluate(
        """s => { const style = getComputedStyle(s);
                  const ctx = document.createElement('canvas').getContext('2d');
                  ctx.font = style.font;
                  const text = ctx.measureText(s.options[s.selectedIndex].text).width;
                  return text + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight)
                         <= s.clientWidth + 1; }"""
    )
    screenshot(page, f"nav-{who}-{width}.png")


@pytest.mark.parametrize("width", [1000, 390])
def test_below_1024_px_the_links_fold_into_an_accessible_menu(live_server, page, world, width):
    page.set_viewport_size({"width": width, "height": 800})
    open_as(page, live_server.url, AS_ALL)
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    runs_link = page.locator("#nav-main").get_by_role("link", name="Runs")
    expect(runs_link).to_be_hidden()
    open_menu(page)
    expect(runs_link).to_be_visible()
    expect(page.locator("#tenant-switch")).to_be_visible()
    assert horizontal_overflow(page) <= 0
    runs_link.click()
    expect(page).to_have_url(f"{live_server.url}/runs/")


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_runs_filter_panel_and_removable_chips(live_server, page, world, width):
    page.set_viewport_size({"width": width, "height": 844})
    open_as(page, live_server.url, AS_DEMO)
    page.goto(f"{live_server.url}/runs/?queue=demo&state=completed&state=sleeping&range=24h")
    panel = page.locator("#runs-filter-panel")
    form = page.locator("#runs-filter")
    if width < 768:
        # Collapsed on phones: the table starts near the top, not under the filters.
        expect(form).to_be_hidden()
        assert page.locator("#runs").bounding_box()["y"] < 844
        page.locator("#runs-filter-panel > summary").click()
        expect(form).to_be_visible()
    else:
        expect(form).to_be_visible()
        page.locator("#runs-filter-panel > summary").click()  # collapsible
        expect(form).to_be_hidden()
    expect(panel.locator("> summary")).to_contain_text("4 active")
    chips = page.locator("#runs-filter-chips a")
    expect(chips).to_have_count(4)
    expect(chips.nth(0)).to_have_accessible_name("Remove filter Queue: demo")
    page.get_by_role("link", name="Remove filter State: completed").click()
    expect(page).to_have_url(re.compile(r"/runs/\?queue=demo&state=sleeping&range=24h$"))
    expect(chips).to_have_count(3)
    expect(page.locator("#runs-filter-chips")).not_to_contain_text("completed")
    expect(page.locator('#runs-rows tr[data-state="completed"]')).to_have_count(0)
    page.get_by_role("link", name="Remove filter Spawned: last 24 hours").click()
    expect(page).to_have_url(re.compile(r"/runs/\?queue=demo&state=sleeping$"))
    assert horizontal_overflow(page) <= 0
    screenshot(page, f"runs-chips-{width}.png")


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_error_pages_are_inside_the_shell_and_offer_a_way_out(live_server, page, world, width):
    page.set_viewport_size({"width": width, "height": 844})
    open_as(page, live_server.url, AS_VIEWER)
    # A viewer has no Settings link: it is not shown, and typed in, it is a styled 403.
    expect(page.locator("nav").get_by_role("link", name="Settings")).to_have_count(0)
    response = page.goto(f"{live_server.url}/settings/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("#error-reason")).to_contain_text("viewer role may not admin")
    expect(page.locator("nav[aria-label=Main]")).to_be_attached()
    assert horizontal_overflow(page) <= 0
    page.get_by_role("link", name="Go to the overview").click()
    expect(page).to_have_url(f"{live_server.url}/")
    response = page.goto(f"{live_server.url}/tasks/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert horizontal_overflow(page) <= 0
    screenshot(page, f"error-404-{width}.png")


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_settings_from_all_tenants_is_a_picker_not_a_403(live_server, page, world, width):
    page.set_viewport_size({"width": width, "height": 844})
    open_as(page, live_server.url, AS_ALL)
    if width < 1024:
        open_menu(page)  # clicks once Bootstrap's collapse has settled
    with page.expect_navigation(url=f"{live_server.url}/settings/"):
        page.locator("nav").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    picker = page.locator("#settings-picker")
    # Globex: the admin (a superuser) is not a member, and still reaches its settings.
    picker.get_by_role("button", name="Manage Globex Corporation").click()
    expect(page.get_by_role("heading", name=re.compile("Settings of Globex"))).to_be_visible()
    expect(page.locator("#tenant-switch")).to_have_value("globex")
    assert horizontal_overflow(page) <= 0
