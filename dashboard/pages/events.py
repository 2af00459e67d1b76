"""The events page. Emitted events and their waiters.

Newest first, filtered by name (prefix or exact), queue and time range, paged
by keyset (``before``, an event-log id). Each event shows its payload (cut when
huge) and the tasks its emit woke. The reads are absurd_core.event_queries;
the tenancy rules are explained there.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from urllib.parse import urlencode

from django import forms
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from absurd_core.engine import list_queues
from absurd_core.event_queries import EventFilter, EventPage, list_events
from absurd_core.events import MAX_NAME_LENGTH
from dashboard.access import dashboard_view


class EventFilterForm(forms.Form):
    name = forms.CharField(required=False, max_length=MAX_NAME_LENGTH, strip=True)
    match = forms.ChoiceField(
        required=False, choices=[("prefix", "starts with"), ("exact", "is exactly")]
    )
    queue = forms.CharField(required=False, max_length=200)
    after = forms.DateTimeField(required=False, label="Emitted from")
    before_time = forms.DateTimeField(required=False, label="Emitted before")
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def clean_queue(self):
        queue = self.cleaned_data["queue"] or None
        if queue is not None and queue not in list_queues():
            raise forms.ValidationError(f"No queue named {queue!r}.")
        return queue

    def clean(self):
        data = super().clean()
        after, before_time = data.get("after"), data.get("before_time")
        if after and before_time and after >= before_time:
            raise forms.ValidationError("The time range ends before it starts.")
        return data

    def event_filter(self) -> EventFilter:
        data = self.cleaned_data
        return EventFilter(
            name=data["name"],
            exact=data["match"] == "exact",
            queue=data["queue"],
            emitted_after=data["after"],
            emitted_before=data["before_time"],
        )


@require_GET
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
