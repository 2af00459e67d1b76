"""The runs page. Tasks with filters, search and bulk actions.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path

from dashboard.access import dashboard_view


@dashboard_view()
def runs(request):
    return render(request, "dashboard/runs.html", {"title": "Runs"})


urlpatterns = [
    path("runs/", runs, name="runs"),
]
