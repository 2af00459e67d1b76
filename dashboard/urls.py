from django.urls import path

from dashboard import approval_views, views

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
]
