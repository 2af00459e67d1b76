"""The dashboard's URLs, all in the ``dashboard`` namespace.

Each page's module owns its routes (its ``urlpatterns``); the names tests and
plugins link to are overview, runs, task, dead_letters, queues, workers, events
and approvals.
"""

from django.urls import path

from dashboard import (
    approval_views,
    dead_letters_views,
    events_views,
    queues_views,
    runs_views,
    task_views,
    views,
    workers_views,
)

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("partials/queues", views.queue_table, name="queue_table"),
    path("tenant", views.switch, name="switch_tenant"),
    path("approval-requests/", approval_views.approvals, name="approvals"),
    path(
        "approval-requests/<int:approval_id>/cancel",
        approval_views.cancel_approval,
        name="cancel_approval",
    ),
    *runs_views.urlpatterns,
    *task_views.urlpatterns,
    *dead_letters_views.urlpatterns,
    *queues_views.urlpatterns,
    *workers_views.urlpatterns,
    *events_views.urlpatterns,
]
