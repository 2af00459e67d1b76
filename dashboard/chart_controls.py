"""The overview chart's controls: which range and queue the page opens with.

The page's own ``?range=`` and ``?queue=`` (kept there by static/dashboard/charts.js)
preselect the controls; anything else falls back to the default range and all queues
(the JSON endpoint, dashboard/pages/charts.py, is where a bad value is an error).
"""

from __future__ import annotations

from absurd_core.queries.throughput import DEFAULT_RANGE, RANGES

RANGE_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d"}


def chart_controls(request) -> dict:
    chosen = request.GET.get("range")
    return {
        "chart_ranges": [(name, RANGE_LABELS.get(name, name)) for name in RANGES],
        "chart_range": chosen if chosen in RANGES else DEFAULT_RANGE,
        "chart_queue": request.GET.get("queue", ""),
    }
