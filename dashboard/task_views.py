"""The task page. One task: runs, timeline, checkpoints, wait.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from django.shortcuts import render
from django.urls import path

from dashboard.access import dashboard_view


@dashboard_view()
def task(request, task_id):
    return render(request, "dashboard/task.html", {"title": "Task"})


urlpatterns = [
    path("tasks/<uuid:task_id>/", task, name="task"),
]
