"""The dashboard's time wording: relative times, absolute times, durations, engine reasons."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import absurdctl
import pytest
from django.utils import timezone

from dashboard import presenters
from dashboard.templatetags import timefmt

NOW = datetime(2026, 12, 5, 16, 24, 2, 123456, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "just now"),
        (timedelta(milliseconds=-900), "just now"),
        (timedelta(seconds=-4), "4 s ago"),
        (timedelta(minutes=-3, seconds=-5), "3 min ago"),
        (timedelta(seconds=20), "in 20 s"),
        (timedelta(hours=2, minutes=59), "in 2 h"),
        (timedelta(days=-5, hours=-3), "5 d ago"),
    ],
)
def test_relative_text(delta, text):
    assert presenters.relative_text(NOW + delta, NOW) == text


def test_absolute_time_has_milliseconds_and_its_zone_label():
    assert presenters.absolute_time(NOW) == "2026-12-05 16:24:02.123 UTC"
    assert presenters.clock_time_ms(NOW) == "16:24:02.123"
    assert presenters.iso_ms(NOW) == "2026-12-05T16:24:02.123+00:00"
    with timezone.override("Europe/Berlin"):
        assert presenters.absolute_time(NOW) == "2026-12-05 17:24:02.123 CET"


def test_time_tag_is_a_time_element_with_the_absolute_time_on_hover():
    html = presenters.time_tag(NOW - timedelta(minutes=3), NOW)
    assert html == (
        '<time datetime="2026-12-05T16:21:02.123+00:00" title="2026-12-05 16:21:02.123 UTC"'
        " data-reltime>3 min ago</time>"
    )
    assert presenters.time_tag(None, NOW) == "—"
    # The filter escapes nothing it should not, and is safe to put in a page.
    assert "<time" in str(timefmt.reltime(NOW)) and timefmt.reltime(None) == "—"


@pytest.mark.parametrize(
    ("seconds", "text", "ms_text"),
    [
        (0.0, "0 ms", "0 ms"),
        (0.125, "125 ms", "125 ms"),
        (0.85, "850 ms", "850 ms"),
        (1.25, "1.2 s", "1.250 s"),
        (9.99, "9.9 s", "9.990 s"),
        (45.2, "45 s", "45.200 s"),
        (184, "3 min 4 s", "3 min 4 s"),
        (7500, "2 h 5 min", "2 h 5 min"),
        (-3, "0 ms", "0 ms"),
    ],
)
def test_durations(seconds, text, ms_text):
    assert presenters.duration_text(seconds) == text
    assert presenters.duration_text(timedelta(seconds=seconds)) == text
    assert presenters.duration_ms_text(seconds) == ms_text


def test_elapsed_text_runs_to_now_until_the_end_is_known():
    start = NOW - timedelta(seconds=12)
    assert presenters.elapsed_text(start, start + timedelta(seconds=1.5), NOW) == "1.5 s"
    assert presenters.elapsed_text(start, None, NOW) == "12 s so far"
    assert presenters.elapsed_text(None, None, NOW) == ""


def _dollar_reasons(text: str) -> set[str]:
    """Failure names the SQL writes itself: ``'name', '$Something'``."""
    return set(re.findall(r"'name',\s*'(\$[A-Za-z]+)'", text))


def test_every_engine_reason_in_the_sql_is_explained():
    found = _dollar_reasons(absurdctl.BUNDLED_SCHEMA_SQL)
    for path in (ROOT / "absurd_core" / "sql").glob("*.sql"):
        found |= _dollar_reasons(path.read_text())
    assert "$ClaimTimeout" in found  # the grep still finds what the engine writes
    assert found <= set(presenters.ENGINE_REASONS)


def test_engine_reasons_in_words():
    words = presenters.engine_reason("$ClaimTimeout")
    assert "did not finish or extend its lease in time" in words
    assert "crashed or been cut off" in words and "retried" in words
    assert presenters.engine_reason("ValueError") is None and presenters.engine_reason(None) is None
    assert "engine recorded itself" in presenters.engine_reason("$SomethingNew")
    # The filter takes a failure's name or an event-log reason ("Name: message").
    assert timefmt.engine_reason("$ClaimTimeout: worker did not finish task") == words
    assert timefmt.engine_reason("ValueError: boom") == ""


def test_engine_step_names_in_words():
    assert presenters.step_name_text("$awaitEvent:go") == "waited for the event go"
    assert presenters.step_name_text("$child:demo.square") == "started the child demo.square"
    assert presenters.step_name_text("$children:x") == "started the children x"
    assert presenters.step_name_text("charge") == "charge"


def test_the_filters_render_nothing_for_what_is_not_a_time():
    # A missing template variable is "" (string_if_invalid), a missing time None.
    for value in ("", None, "2026-12-05"):
        assert timefmt.reltime(value) == "—"
        assert timefmt.abstime_ms(value) == timefmt.clock_ms(value) == timefmt.iso_ms(value) == ""
        assert timefmt.elapsed(value) == ""
    assert timefmt.elapsed(NOW, "").endswith("so far")
