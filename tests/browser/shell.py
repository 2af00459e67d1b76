"""Helpers for the dashboard's browser tests: users, logging in, screenshots, a11y names."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tenants.models import Tenant
from tests.helpers import PASSWORD, role_user

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

#: Everything a user operates or that carries meaning by itself (the sparklines).
CONTROLS = "button, input:not([type=hidden]), select, textarea, a[href], [role=img]"


def member(username: str, slug: str, role: str = "viewer", *, platform: bool = False):
    tenant, _ = Tenant.objects.get_or_create(
        slug=slug, defaults={"name": slug.title(), "is_platform": platform}
    )
    return role_user(username, tenant, role)


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/")


#: The phone menu once Bootstrap's collapse has settled: shown, no longer "collapsing".
MENU_SETTLED = re.compile(r"^(?!.*\bcollapsing\b)(?=.*\bshow\b)")


def open_menu(page: Page) -> None:
    """Open the phone menu (below 1024 px) and wait until its collapse animation has ended:
    a link clicked while it is still animating may not navigate on a loaded machine."""
    menu = page.get_by_role("button", name="Menu")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#nav-main")).to_have_class(MENU_SETTLED)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def assert_controls_have_names(page: Page) -> int:
    """Every visible control in <main> has a non-empty accessible name (as Chromium's
    accessibility tree computes it, through Playwright); returns how many were checked."""
    page.evaluate("document.querySelectorAll('main details').forEach(d => { d.open = true; })")
    controls = page.locator("main").locator(CONTROLS).filter(visible=True)
    count = controls.count()
    for i in range(count):
        expect(controls.nth(i)).to_have_accessible_name(re.compile(r"\S"))
    nav = page.locator("nav[aria-label=Main]").locator(CONTROLS).filter(visible=True)
    for i in range(nav.count()):
        expect(nav.nth(i)).to_have_accessible_name(re.compile(r"\S"))
    return count + nav.count()


def horizontal_overflow(page: Page) -> int:
    """How far the page is wider than the viewport (0: no horizontal scrolling)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )
