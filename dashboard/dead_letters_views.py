"""The dead letters page. Terminal failures, grouped.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path

from dashboard.access import dashboard_view


@dashboard_view()
def dead_letters(request):
    return render(request, "dashboard/dead_letters.html", {"title": "Dead letters"})


urlpatterns = [
    path("dead-letters/", dead_letters, name="dead_letters"),
]
