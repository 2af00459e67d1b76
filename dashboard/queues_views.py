"""The queues page. Queues: policy, pause, cleanup.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path

from dashboard.access import dashboard_view


@dashboard_view()
def queues(request):
    return render(request, "dashboard/queues.html", {"title": "Queues"})


urlpatterns = [
    path("queues/", queues, name="queues"),
]
