"""The workers page. The worker registry.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path

from dashboard.access import dashboard_view


@dashboard_view()
def workers(request):
    return render(request, "dashboard/workers.html", {"title": "Workers"})


urlpatterns = [
    path("workers/", workers, name="workers"),
]
