"""The overview: totals, one row per queue with its sparkline, and plugin panels.

- ``overview`` (GET): the page; a user who belongs to no tenant sees it without numbers.
- ``queue_table`` (GET, partial): the live part alone (totals and the queue table),
  polled by htmx every 2 seconds.

The numbers come from absurd_core.queries.queues (``overview_stats``, ``throughput``,
``totals``); dashboard.presenters shapes them (``overview_row``: counts in the engine's
state order, the backlog's age in words, the last hour as sparkline points).

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_safe

from absurd_core.engine import TASK_STATES
from absurd_core.queries.queues import Totals, overview_stats, throughput, totals
from absurd_core.queries.schedules import late_schedules
from absurd_core.tenancy import TenantScope
from dashboard.access import dashboard_view
from dashboard.chart_controls import chart_controls
from dashboard.panels import render_panels
from dashboard.presenters import SPARK_MINUTES, OverviewRow, overview_row


@dataclass(frozen=True)
class Overview:
    queues: list[OverviewRow]
    totals: Totals


def overview_data(scope: TenantScope, *, now: datetime | None = None) -> Overview:
    """Everything the overview's live part shows for ``scope``."""
    now = now or timezone.now()
    series = throughput(scope, minutes=SPARK_MINUTES, now=now)
    rows = [overview_row(s, series.get(s.name), now) for s in overview_stats(scope)]
    return Overview(rows, totals(scope))


def _overview_context(request):
    principal = request.principal
    scope = principal.scope if principal else None
    data = overview_data(scope) if scope else None
    return {
        "scope": scope,
        "principal": principal,
        "states": TASK_STATES,
        "queues": data.queues if data else [],
        "totals": data.totals if data else None,
        # Schedules due more than a minute ago while workers are alive (docs/schedules.md).
        "late_schedules": late_schedules(scope) if scope else [],
        **chart_controls(request),
    }


@require_safe
@dashboard_view(tenant_required=False)
def overview(request):
    context = _overview_context(request)
    context["panels"] = render_panels(request, context["principal"]) if context["scope"] else []
    return render(request, "dashboard/overview.html", context)


@require_safe
@dashboard_view(tenant_required=False)
def queue_table(request):
    """The live part alone (totals and the queue table), polled by htmx every 2 seconds."""
    return render(request, "dashboard/_queue_table.html", _overview_context(request))


urlpatterns = [
    path("", overview, name="overview"),
    path("partials/queues", queue_table, name="queue_table"),
]
