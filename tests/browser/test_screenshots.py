"""The screenshot harness (issue 19): every dashboard page at 1280, 1024 and 390 px with
demo-like data, written to tests/browser/artifacts/<page>-<width>.png (ignored by git) for
a reviewer to look at. At 390 px the same walk proves that no page scrolls sideways (the
document is no wider than the window), each page loaded at that width after a login at
1280 px.

With ``DOCS_SCREENSHOTS=<folder>`` in the environment (``make screenshots``, i.e.
tools/screenshots.py), the 1280 px run also writes the small PNGs of docs/dashboard.md
there: one per page, the first screen only, drawn at 0.6 device pixels per CSS pixel (768 px
wide), each under DOCS_LIMIT bytes.
"""

import os
from pathlib import Path

import pytest

from tests.browser.demo_world import PAGES, build_demo_world, open_as, page_path
from tests.browser.shell import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 1024, 390]
HEIGHT = {1280: 800, 1024: 768, 390: 844}
EXPECTED = {"error-403": 403, "error-404": 404}
DOCS_LIMIT = 150_000
DOCS_SCALE = 0.6


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_at_each_width(live_server, browser, width):
    world = build_demo_world()
    ARTIFACTS.mkdir(exist_ok=True)
    docs = os.environ.get("DOCS_SCREENSHOTS") if width == 1280 else None
    written = []
    by_visitor: dict[str, list[str]] = {}
    for name, who in PAGES.items():
        by_visitor.setdefault(who, []).append(name)
    for who, names in by_visitor.items():
        scale = DOCS_SCALE if docs else 1
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, device_scale_factor=scale
        )
        try:
            page = context.new_page()
            open_as(page, live_server.url, who)
            page.set_viewport_size({"width": width, "height": HEIGHT[width]})
            for name in names:
                response = page.goto(f"{live_server.url}{page_path(world, name)}")
                assert response.status == EXPECTED.get(name, 200), name
                # Loaded, and the overview's charts drawn from their fetch (charts.js marks
                # them): the pages' only content that arrives after the load event.
                # ("networkidle" waited 0.5 s of silence on every page: 9 s a width.)
                page.wait_for_load_state("load")
                page.wait_for_function(
                    "() => !document.getElementById('charts')"
                    " || document.getElementById('charts').hasAttribute('data-loaded')"
                )
                if width == 390:
                    wide, window = page.evaluate(
                        "[document.documentElement.scrollWidth, window.innerWidth]"
                    )
                    assert wide <= window, f"{name}: {wide} px wide at {window} px"
                path = ARTIFACTS / f"{name}-{width}.png"
                page.screenshot(path=str(path), full_page=True)
                assert path.stat().st_size > 1000, name
                written.append(name)
                if docs:
                    target = Path(docs) / f"{name}.png"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(target), full_page=False)
                    size = target.stat().st_size
                    assert size < DOCS_LIMIT, f"{target}: {size} bytes"
        finally:
            context.close()
    assert sorted(written) == sorted(PAGES)
