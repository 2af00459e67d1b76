"""Links to the dashboard's pages, for every page and presenter to reuse (issue 19, item 4).

Everything an operator reads as a name or a number is a way in: a count goes to the runs
list filtered by its queue and state (and tenant, when the count is one tenant's), a task
id to its task page, a worker to its row on the workers page, a schedule to its row on
the schedules page, a parent to the parent task.

- ``runs_url``: the runs list with the runs page's own query parameters
  (dashboard/forms/runs_forms.py ``FILTER_PARAMS``), in that order;
- ``task_url``/``task_link``, ``worker_url``/``worker_link``,
  ``schedule_url``/``schedule_link``, ``parent_link``, ``queue_url``: URLs and ready
  ``<a>`` elements (escaped with ``format_html``).

Templates use them through ``{% load links %}`` (dashboard/templatetags/links.py).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from absurd_core.tenancy import TenantScope


def runs_url(
    *,
    queue: str | None = None,
    state: str | None = None,
    scope: TenantScope | None = None,
    task: str | None = None,
) -> str:
    """The runs list filtered by ``queue``, ``state`` and ``task`` (a task name). A
    one-tenant ``scope`` adds ``tenant``: the runs page applies it for platform staff
    viewing all tenants and otherwise shows the principal's own tenant anyway."""
    params = []
    if queue:
        params.append(("queue", queue))
    if state and state != "total":
        params.append(("state", state))
    if task:
        params.append(("task", task))
    if isinstance(scope, TenantScope) and not scope.is_all:
        params.append(("tenant", scope.slug))
    url = reverse("dashboard:runs")
    return f"{url}?{urlencode(params)}" if params else url


def queue_url(name: str) -> str:
    """The queue's row on the queues page."""
    return f"{reverse('dashboard:queues')}#queue-{quote(name, safe='')}"


def task_url(task_id) -> str:
    return reverse("dashboard:task", args=[task_id])


def task_link(task_id, label: str | None = None) -> SafeString:
    """``<a>`` to the task page, labelled with ``label`` or the task id in code."""
    if label:
        return format_html('<a href="{}" data-task-link>{}</a>', task_url(task_id), label)
    return format_html(
        '<a href="{}" data-task-link><code>{}</code></a>', task_url(task_id), task_id
    )


def worker_url(worker_id: str) -> str:
    """The worker's row on the workers page (``id="worker-<id>"``)."""
    return f"{reverse('dashboard:workers')}#worker-{quote(worker_id, safe='')}"


def worker_link(worker_id: str) -> SafeString:
    return format_html(
        '<a href="{}" data-worker-link><code>{}</code></a>', worker_url(worker_id), worker_id
    )


def schedule_url(schedule_id: int) -> str:
    """The schedule's row on the schedules page (``id="schedule-<id>"``)."""
    return f"{reverse('dashboard:schedules')}#schedule-{int(schedule_id)}"


def schedule_link(schedule_id: int, name: str) -> SafeString:
    return format_html('<a href="{}" data-schedule-link>{}</a>', schedule_url(schedule_id), name)


def parent_link(task_id, task_name: str | None = None) -> SafeString:
    """``<a>`` to a child's parent task, labelled with its name when known."""
    return format_html(
        '<a href="{}" data-parent-link>{}</a>',
        task_url(task_id),
        task_name or str(task_id),
    )
