"""The task page's step timeline and relative times in Chromium, at 1280, 1024 and 390 px.

The task is seeded with known times (tests/timeline_seed.py, under absurd.fake_now), so
each bar's position and width must match its span of the 15 s run.
"""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine
from tenants.models import Membership, Tenant
from tests.timeline_seed import EXPECTED, seed_timeline_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "a-long-password-1"
TOTAL_MS = 15000
#: Bars are placed to 0.001 % and drawn to the pixel: within half a percent of the track.
TOLERANCE = 0.005
ABSOLUTE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$")


@pytest.fixture
def operator():
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role="operator")
    yield user
    engine.drop_queue("demo")


def log_in(page, live_server, path):
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}{path}")


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_the_timeline_draws_each_span_to_scale(live_server, page, operator, width):
    task = seed_timeline_task()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, f"/tasks/{task.task_id}/")

    rows = page.locator("#step-timeline > li")
    expect(rows).to_have_count(len(EXPECTED))
    assert rows.evaluate_all("els => els.map(e => [e.dataset.kind, e.dataset.name])") == [
        [kind, name] for kind, name, _, _ in EXPECTED
    ]
    expect(page.locator("#step-timeline-total")).to_contain_text("15.000 s")
    tracks = page.locator("#step-timeline .step-track")
    bars = page.locator("#step-timeline .step-bar")
    starts = []
    for i, (_kind, name, start_ms, end_ms) in enumerate(EXPECTED):
        track, bar = tracks.nth(i).bounding_box(), bars.nth(i).bounding_box()
        assert track["width"] > 100, f"{width} px: the track of {name} is {track['width']} px"
        x = (bar["x"] - track["x"]) / track["width"]
        w = bar["width"] / track["width"]
        assert abs(x - start_ms / TOTAL_MS) <= TOLERANCE, (width, name, x)
        assert abs(w - max((end_ms - start_ms) / TOTAL_MS, 0.004)) <= TOLERANCE, (width, name, w)
        starts.append(bar["x"])
    assert starts == sorted(starts)  # ordered by start
    # Durations and offsets to the millisecond.
    transform = page.locator('#step-timeline > li[data-name="transform"]')
    expect(transform.locator(".step-duration")).to_have_text("3.000 s")
    expect(transform.locator(".step-offset")).to_have_text("+1.000 s")
    expect(transform).to_have_attribute("data-duration-ms", "3000")
    # No horizontal scroll, at any width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#step-timeline-card").screenshot(
        path=str(ARTIFACTS / f"step-timeline-{width}.png")
    )


def test_relative_times_show_the_absolute_time_on_hover_and_stay_current(
    live_server, page, operator
):
    task = seed_timeline_task()
    log_in(page, live_server, f"/tasks/{task.task_id}/")

    enqueued = page.locator("#task-enqueued time")
    expect(enqueued).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
    assert ABSOLUTE.match(enqueued.get_attribute("title"))
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", enqueued.get_attribute("datetime")
    )
    enqueued.hover()  # the title is the browser's tooltip: it is what hover shows
    # The seeded attempts ended in 2030: "in ... d", with their end times, failed or not.
    ended = page.locator("#task-runs tr[data-run] .run-ended time")
    expect(ended).to_have_count(2)
    for i in range(2):
        expect(ended.nth(i)).to_have_text(re.compile(r"^in \d+ d$"))
        assert ABSOLUTE.match(ended.nth(i).get_attribute("title"))
    assert ended.nth(1).get_attribute("title") == "2030-03-01 12:00:12.500 UTC"  # the failed one
    durations = page.locator("#task-runs tr[data-run] .run-duration")
    expect(durations.nth(0)).to_have_text("2.0 s")
    # The engine's reason in words, beside its name.
    expect(page.locator("#task-runs summary")).to_contain_text("$ClaimTimeout")
    expect(page.locator("#task-runs .run-reason")).to_contain_text(
        "did not finish or extend its lease in time"
    )
    # Event-log rows to the millisecond.
    expect(page.locator("#task-timeline time").last).to_have_text("12:00:15.000")

    # reltime.js recomputes the text from the datetime attribute (no inline script).
    enqueued.evaluate(
        "el => { el.setAttribute('datetime', new Date(Date.now() - 125000).toISOString());"
        " el.textContent = 'stale'; document.dispatchEvent(new Event('htmx:afterSwap')); }"
    )
    expect(enqueued).to_have_text("2 min ago")
