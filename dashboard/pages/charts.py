"""The overview chart's data: a JSON endpoint under the dashboard (issue 19, item 5).

- ``charts`` (GET ``charts/?range=1h|24h|7d&queue=NAME``): completed, failed and
  retried per point over the range, and p50/p95/p99 of completed runs per task name,
  for the principal's scope (the tenant switcher's choice; a tenant operator sees only
  their tenant: there is no tenant parameter). Session-authenticated like every
  dashboard page; drawn by static/dashboard/charts.js with the vendored uPlot.

Bad input changes nothing and answers RFC 9457 problem details
(``application/problem+json``): an unknown range is 400, a queue that does not exist
404. The data comes from absurd_core.queries.throughput; the wording (durations in
words) from dashboard.presenters.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe

from absurd_core.engine import list_queues
from absurd_core.errors import InvalidArgument
from absurd_core.queries.throughput import (
    RANGES,
    chart_range,
    duration_percentiles,
    throughput_series,
)
from dashboard.access import dashboard_view
from dashboard.links import runs_url
from dashboard.presenters import chart_duration


def _problem(status: int, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


@require_safe
@dashboard_view()
def charts(request):
    scope = request.principal.scope
    try:
        chart = chart_range(request.GET.get("range"))
    except InvalidArgument as exc:
        return _problem(400, "Bad request", exc.message)
    queue = request.GET.get("queue") or None
    if queue is not None and queue not in list_queues():
        return _problem(404, "Not found", f"No queue named {queue[:60]!r}.")
    series = throughput_series(scope, chart, queue=queue)
    durations = duration_percentiles(scope, chart, queue=queue)
    return JsonResponse(
        {
            "range": chart.name,
            "label": chart.label,
            "ranges": list(RANGES),
            "step_seconds": int(chart.step.total_seconds()),
            "queue": queue,
            "tenant": None if scope.is_all else scope.slug,
            "series": {
                "t": [int(s.timestamp()) for s in series.starts],
                "completed": series.completed,
                "failed": series.failed,
                "retried": series.retried,
            },
            "totals": series.totals,
            "durations": [
                {
                    "task_name": row.task_name,
                    "runs": row.runs,
                    "p50": row.p50,
                    "p95": row.p95,
                    "p99": row.p99,
                    "p50_text": chart_duration(row.p50),
                    "p95_text": chart_duration(row.p95),
                    "p99_text": chart_duration(row.p99),
                    "runs_url": runs_url(
                        queue=queue, state="completed", scope=scope, task=row.task_name
                    ),
                }
                for row in durations
            ],
        }
    )


urlpatterns = [path("charts/", charts, name="charts")]
