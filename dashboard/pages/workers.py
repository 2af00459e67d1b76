"""The workers page. The worker registry.

Every runworker process with its state (live, dead: no heartbeat for three
intervals, stopped), queues and concurrency; its counters (in flight,
processed, failed) only for platform staff, since they add up every tenant's
work (absurd_core.queries.workers). Workers that are not ours (other Absurd clients)
are listed from the runs they hold claimed, badged "external". The table polls
every 2 seconds while the tab is visible; "show stopped" adds the processes
that have shut down.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_safe

from absurd_core.queries.workers import workers_for
from dashboard.access import dashboard_view
from dashboard.presenters import ago, worker_badge


def _context(request):
    principal = request.principal
    show_stopped = request.GET.get("stopped") == "1"
    now = timezone.now()
    rows = [
        {
            "worker": worker,
            "badge": worker_badge(worker.status),
            "last_seen_ago": ago((now - worker.last_seen).total_seconds()),
        }
        for worker in workers_for(
            principal.scope, include_stopped=show_stopped, platform=principal.platform
        )
    ]
    return {
        "title": "Workers",
        "principal": principal,
        "rows": rows,
        "show_stopped": show_stopped,
        "counters": any(row["worker"].in_flight is not None for row in rows),
        "show_failed": any(row["worker"].failed is not None for row in rows),
    }


@require_safe
@dashboard_view()
def workers(request):
    context = _context(request)
    if request.htmx and request.htmx.target == "workers-table":
        return render(request, "dashboard/_workers_table.html", context)
    return render(request, "dashboard/workers.html", context)


urlpatterns = [
    path("workers/", workers, name="workers"),
]
