"""The dashboard's URLs, all in the ``dashboard`` namespace.

One module per page in dashboard/pages/, named for the page's URL name (overview,
runs, task, dead_letters, queues, schedules, workers, events, approvals, and switch_tenant for
the navigation bar's tenant switch); each owns its routes (its ``urlpatterns``),
with the partials and actions that belong to the page.
"""

from dashboard.pages import (
    approvals,
    charts,
    dead_letters,
    events,
    overview,
    queues,
    runs,
    schedules,
    switch_tenant,
    task,
    workers,
)

app_name = "dashboard"
urlpatterns = [
    *overview.urlpatterns,
    *charts.urlpatterns,
    *switch_tenant.urlpatterns,
    *approvals.urlpatterns,
    *runs.urlpatterns,
    *task.urlpatterns,
    *dead_letters.urlpatterns,
    *queues.urlpatterns,
    *schedules.urlpatterns,
    *workers.urlpatterns,
    *events.urlpatterns,
]
