"""Operator dashboard views: thin, reading through query functions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from absurd_core.engine import TASK_STATES
from absurd_core.queries import queue_overview
from tenants.scoping import scope_for_user


def _overview_context(request):
    scope = scope_for_user(request.user)
    return {
        "scope": scope,
        "states": TASK_STATES,
        "queues": queue_overview(scope) if scope else [],
    }


@login_required
def overview(request):
    return render(request, "dashboard/overview.html", _overview_context(request))


@login_required
def queue_table(request):
    """The queue table alone, polled by htmx every 2 seconds."""
    return render(request, "dashboard/_queue_table.html", _overview_context(request))
