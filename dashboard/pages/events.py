"""The events page. Emitted events and their waiters.

Newest first, filtered by name (prefix or exact), queue and time range, paged
by keyset (``before``, an event-log id). Each event shows its payload (cut when
huge) and the tasks its emit woke. The filter is dashboard.forms.event_forms.EventFilterForm;
the reads are absurd_core.queries.events;
the tenancy rules are explained there.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from absurd_core.engine import list_queues
from absurd_core.queries.events import EventPage, list_events
from dashboard.access import dashboard_view
from dashboard.forms.event_forms import EventFilterForm


@require_safe
@dashboard_view()
def events(request):
    principal = request.principal
    form = EventFilterForm(request.GET)
    if form.is_valid():
        page = list_events(principal.scope, form.event_filter(), before=form.cleaned_data["before"])
        status = 200
    else:
        page, status = EventPage([], None), 400
    params = {k: v for k, v in request.GET.items() if k != "before" and v}
    context = {
        "title": "Events",
        "principal": principal,
        "form": form,
        "queues": list_queues(),
        "page": page,
        "paged": bool(request.GET.get("before")),
        "first_query": urlencode(params),
        "older_query": urlencode({**params, "before": page.next_before})
        if page.next_before
        else None,
    }
    return render(request, "dashboard/events.html", context, status=status)


urlpatterns = [
    path("events/", events, name="events"),
]
