"""The events page. Emitted events and their waiters.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path

from dashboard.access import dashboard_view


@dashboard_view()
def events(request):
    return render(request, "dashboard/events.html", {"title": "Events"})


urlpatterns = [
    path("events/", events, name="events"),
]
