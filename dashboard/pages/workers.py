"""The workers page. The worker registry.

Every runworker process with its state (live, dead: no heartbeat for three
intervals, stopped), queues and concurrency; its counters (in flight,
processed, failed) only for platform staff, since they add up every tenant's
work (absurd_core.queries.workers). Workers that are not ours (other Absurd clients)
are listed from the runs they hold claimed, badged "external". The table polls
every 2 seconds while the tab is visible; "show stopped" adds the processes
that have shut down. A worker that is not alive shows in flight only the runs the
engine still has it hold (0 once they were retried elsewhere), and is hidden once it
has been silent for ``ABSURD_DEAD_WORKER_RETENTION`` seconds. Platform admins get a
"Remove" button on dead and stopped workers (POST ``workers/remove``, the audited
``absurd_core.actions.workers.remove_worker``).

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from absurd_core.actions.workers import (
    WorkerAlive,
    WorkerNotFound,
    remove_worker,
    require_worker_admin,
)
from absurd_core.queries.workers import dead_worker_retention, workers_for
from dashboard.access import dashboard_view
from dashboard.feedback import toast
from dashboard.presenters import ago, worker_badge, worker_removed, worker_retention
from tenants.permissions import Action


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
        "may_remove": principal.platform and principal.can(Action.ADMIN),
        "retention": worker_retention(dead_worker_retention().total_seconds()),
    }


@require_safe
@dashboard_view()
def workers(request):
    context = _context(request)
    if request.htmx and request.htmx.target == "workers-table":
        return render(request, "dashboard/_workers_table.html", context)
    return render(request, "dashboard/workers.html", context)


@require_POST
@dashboard_view()
def remove(request):
    """Forget a dead or stopped worker (platform admins: 403 for anyone else)."""
    require_worker_admin(request.principal)
    worker_id = request.POST.get("worker_id", "")
    back = reverse("dashboard:workers") + ("?stopped=1" if request.POST.get("stopped") else "")
    try:
        remove_worker(request.principal, worker_id)
    except WorkerNotFound:
        raise Http404("No worker of that id.") from None
    except WorkerAlive as exc:
        return toast(request, redirect(back), "warning", str(exc))
    return toast(request, redirect(back), "success", worker_removed(worker_id))


urlpatterns = [
    path("workers/", workers, name="workers"),
    path("workers/remove", remove, name="remove_worker"),
]
