"""Operator dashboard views: thin, reading through query functions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from absurd_core.engine import TASK_STATES
from dashboard.next_url import safe_next
from dashboard.overview_data import overview as overview_data
from dashboard.panels import render_panels
from tenants.resolution import principal_for_user, switch_tenant


def _overview_context(request):
    principal = principal_for_user(request.user, request.session)
    scope = principal.scope if principal else None
    data = overview_data(scope) if scope else None
    return {
        "scope": scope,
        "principal": principal,
        "states": TASK_STATES,
        "queues": data.queues if data else [],
        "totals": data.totals if data else None,
    }


@login_required
def overview(request):
    context = _overview_context(request)
    context["panels"] = render_panels(request, context["principal"]) if context["scope"] else []
    return render(request, "dashboard/overview.html", context)


@login_required
def queue_table(request):
    """The live part alone (totals and the queue table), polled by htmx every 2 seconds."""
    return render(request, "dashboard/_queue_table.html", _overview_context(request))


@login_required
@require_POST
def switch(request):
    """Change the active tenant; only to one the user belongs to (or all, for platform staff)."""
    if not switch_tenant(request.user, request.session, request.POST.get("tenant", "")):
        messages.error(request, "You cannot switch to that tenant.")
    return redirect(safe_next(request, "dashboard:overview"))
