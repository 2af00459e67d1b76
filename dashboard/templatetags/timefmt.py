"""Time display filters: ``{% load timefmt %}``, then ``{{ at|reltime }}``.

- ``reltime``: a relative time with the absolute one on hover (``presenters.time_tag``);
  ``static/dashboard/reltime.js`` keeps the text current.
- ``abstime_ms``: the absolute time with milliseconds, labelled with its time zone.
- ``clock_ms``: the clock time with milliseconds (a timeline's rows).
- ``elapsed``: ``{{ start|elapsed:end }}``, a duration ("1.2 s", "3 min 4 s"); without
  an end, the time so far.
- ``engine_reason``: the words for an engine failure name such as ``$ClaimTimeout``.

The wording is dashboard.presenters'; these only adapt it to templates.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from dashboard import presenters

register = template.Library()


@register.filter
def reltime(value):
    return presenters.time_tag(value, timezone.now())


@register.filter
def abstime_ms(value):
    return presenters.absolute_time(value) if isinstance(value, datetime) else ""


@register.filter
def clock_ms(value):
    return presenters.clock_time_ms(value) if isinstance(value, datetime) else ""


@register.filter
def iso_ms(value):
    return presenters.iso_ms(value) if isinstance(value, datetime) else ""


@register.filter
def elapsed(start, end=None):
    if not isinstance(start, datetime):
        return ""
    end = end if isinstance(end, datetime) else None
    return presenters.elapsed_text(start, end, timezone.now())


@register.filter
def engine_reason(name):
    """For a failure's name, or an event-log reason ("$ClaimTimeout: worker did not ...")."""
    if not isinstance(name, str):
        return ""
    return presenters.engine_reason(name.split(":", 1)[0].strip()) or ""
