"""Issue 19 item 2 in a real browser at 1280, 1024 and 390 px: a new API key is shown in a
panel that stays until dismissed (still there after 10 s on the page's clock), with a copy
button (the clipboard, or a selection to copy by hand) and a one-line "shown once" warning,
all under the Content-Security-Policy (no inline script)."""

import re

import pytest
from playwright.sync_api import expect

from tenants.api_keys import verify_key
from tenants.models import ApiKey
from tests.browser.shell import horizontal_overflow, log_in, member, screenshot
from tests.browser.test_csp_browser import CspWatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = re.compile(r"^ac_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def _create_key(page, base_url, name):
    page.goto(f"{base_url}/settings/")
    page.locator("summary", has_text="New key").click()
    page.locator("#id_name").fill(name)
    page.get_by_role("button", name="Create key").click()
    expect(page).to_have_url(f"{base_url}/settings/")
    panel = page.get_by_role("region", name=re.compile("New key"))
    expect(panel).to_be_visible()
    return panel


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_the_new_key_panel_stays_until_dismissed_and_copies(live_server, page, width):
    member("ada", "acme", "admin")
    page.set_viewport_size({"width": width, "height": 844})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    csp = CspWatch(page)
    page.clock.install()
    log_in(page, live_server.url, "ada")
    panel = _create_key(page, live_server.url, "ci")
    value = panel.locator("#new-key-value")
    key = value.inner_text().strip()
    assert KEY.match(key) and verify_key(key).pk == ApiKey.objects.get(name="ci").pk
    # The warning: one line ("shown once"), and the whole key inside the panel, wrapped.
    warning = panel.locator("#new-key-warning")
    expect(warning).to_contain_text("Shown once")
    line = warning.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert warning.bounding_box()["height"] <= line * 1.5
    assert value.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert horizontal_overflow(page) <= 0

    page.clock.run_for(11_000)  # a toast would have hidden itself by now
    expect(panel).to_be_visible()
    expect(value).to_have_text(key)
    screenshot(page, f"api-key-panel-{width}.png")

    panel.get_by_role("button", name="Copy").click()
    expect(panel.locator("#new-key-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == key

    panel.get_by_role("button", name=re.compile("Dismiss")).click()
    expect(panel).to_have_count(0)
    page.reload()  # shown once: not again
    expect(page.locator("#new-key-panel")).to_have_count(0)
    assert key not in page.content()
    csp.assert_none()


def test_without_the_clipboard_api_the_key_is_selected_for_copying(live_server, page):
    member("ada", "acme", "admin")
    page.set_viewport_size({"width": 390, "height": 844})
    # A page where navigator.clipboard is missing (an insecure origin, an older browser).
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    log_in(page, live_server.url, "ada")
    panel = _create_key(page, live_server.url, "by-hand")
    panel.get_by_role("button", name="Copy").click()
    expect(panel.locator("#new-key-status")).to_contain_text("press Ctrl+C")
    selected = page.evaluate("window.getSelection().toString()").strip()
    assert selected == panel.locator("#new-key-value").inner_text().strip()
