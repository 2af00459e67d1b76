"""The runs page. Tasks with filters, search and bulk actions.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.

- ``runs`` (GET): the filtered list, newest first, by keyset page. For htmx it
  answers with a fragment: the table body (``HX-Target: runs-rows``, the 2-second
  poll) or the page's content (``runs-page``: filter, pager, live toggle).
- ``runs_bulk`` (POST, operator): cancel or retry the selected tasks or all
  tasks matching the filter. The first POST answers with a confirmation that
  shows the count; the second (``confirm=yes``) applies, toasts the outcome and
  redirects back to the list. The logic is absurd_core.actions.bulk_tasks; its wording
  (the confirmation's counts in words, the outcome's toast) is dashboard.presenters.

htmx answers use django_htmx.http: ``HttpResponseStopPolling`` (286) and ``push_url``.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling, push_url

from absurd_core.actions import bulk_tasks
from absurd_core.engine import list_queues
from absurd_core.errors import InvalidArgument, QueueNotFound, TaskNotFound
from absurd_core.queries.task_list import list_tasks, search_window
from absurd_core.queries.task_selection import newer_cursor
from dashboard.access import dashboard_view
from dashboard.feedback import toast
from dashboard.forms.runs_forms import RunFilterForm
from dashboard.presenters import bulk_outcome_toast, bulk_preview, delayed_start_rows
from dashboard.worker_liveness import dead_hold_notes
from tenants.permissions import Action

PAGE_SIZE = 50
#: A confirmation's moment may not be later than now (allowing for clock skew between hosts).
AS_OF_SLACK = timedelta(minutes=1)
BULK_CHOICES = {
    f"{action}:{target}" for action in bulk_tasks.APPLIES_TO for target in ("selected", "matching")
}


def _form(request, data, *, now=None) -> RunFilterForm:
    return RunFilterForm(
        data,
        principal=request.principal,
        queues=list_queues(),
        now=now,
        focus=request.GET.get("focus") == "search",
    )


def _list(form: RunFilterForm):
    """The page of tasks for a valid form, or None with the error added to the form."""
    filters = form.task_filter()
    cursor = form.cleaned_data.get("cursor") or None
    try:
        page = list_tasks(form.scope(), filters, cursor=cursor, limit=PAGE_SIZE)
        newer = newer_cursor(form.scope(), filters, cursor, limit=PAGE_SIZE) if cursor else None
    except QueueNotFound as missing:
        form.add_error("queue", str(missing))
        return None, None
    except InvalidArgument as invalid:
        form.add_error(None, str(invalid))
        return None, None
    return page, newer


@require_safe
@dashboard_view()
def runs(request):
    form = _form(request, request.GET)
    page = newer = None
    if form.is_valid():
        page, newer = _list(form)
    paused = bool(form.is_valid() and form.cleaned_data.get("paused"))
    keep = "1" if paused else None
    context = {
        "title": "Runs",
        "form": form,
        "page": page,
        "rows": delayed_start_rows(page.items, timezone.now()) if page is not None else [],
        "dead_holds": dead_hold_notes(request.principal.scope, page.items if page else []),
        "newer": newer,
        "search_window": f"{search_window():,}",
        "paused": paused,
        "scope": request.principal.scope,
        "show_tenant": request.principal.scope.is_all,
        "may_operate": request.principal.can(Action.OPERATE),
        "self_query": form.query(cursor=form.data.get("cursor"), paused=keep),
        "live_query": form.query(cursor=form.data.get("cursor"), paused=None if paused else "1"),
        "filter_params": form.filter_params(),
        "older_query": form.query(cursor=page.next_cursor, paused=keep)
        if page is not None and page.next_cursor
        else None,
        "newest_query": form.query(paused=keep) if newer and newer.exists else None,
        "newer_query": form.query(cursor=newer.cursor, paused=keep)
        if newer and newer.exists
        else None,
    }
    status = 200 if page is not None else 400
    target = request.htmx.target if request.htmx else None
    if target == "runs-rows":
        if page is not None:
            response = render(request, "dashboard/_runs_rows.html", context)
        else:
            # A poll whose filter went bad (its queue was dropped): 286 tells htmx to stop polling.
            html = render_to_string("dashboard/_runs_rows.html", context, request=request)
            response = HttpResponseStopPolling(html)
    elif target == "runs-page":
        # A 400 fragment is swapped in too (runs.js), so the message shows by the field.
        response = render(request, "dashboard/_runs_page.html", context, status=status)
        # The address bar gets the tidy URL (no empty parameters), still bookmarkable.
        push_url(response, _runs_url(context["self_query"]))
    else:
        response = render(request, "dashboard/runs.html", context, status=status)
    # One URL, three bodies: caches must key on the htmx headers.
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _runs_url(query: str) -> str:
    return f"{reverse('dashboard:runs')}?{query}" if query else reverse("dashboard:runs")


def _bulk_error(request, form, message: str, status: int):
    context = {"title": "Bulk action", "error": message, "back_url": _runs_url(form.query())}
    return render(request, "dashboard/runs_confirm.html", context, status=status)


def _task_ids(values: list[str]) -> list[UUID]:
    try:
        return [UUID(value) for value in values]
    except ValueError:
        raise InvalidArgument("A selected task id is not a task id.") from None


@require_POST
@dashboard_view(Action.OPERATE)
def runs_bulk(request):
    data = request.POST
    now = timezone.now()
    as_of = parse_datetime(data.get("as_of", "")) if data.get("as_of") else now
    if as_of is None or timezone.is_naive(as_of) or as_of > now + AS_OF_SLACK:
        return _bulk_error(request, _form(request, data), "The confirmation is not valid.", 400)
    form = _form(request, data, now=as_of)
    choice = data.get("bulk", "")
    if choice not in BULK_CHOICES:
        return _bulk_error(request, form, "Choose cancel or retry, on the selection or on all "
                           "matching tasks.", 400)  # fmt: skip
    action, target = choice.split(":")
    if not form.is_valid():
        errors = "; ".join(e for field in form.errors.values() for e in field)
        return _bulk_error(request, form, f"The filter is not valid: {errors}", 400)
    scope = form.scope()
    filters = bulk_tasks.frozen(form.task_filter(), as_of)
    try:
        task_ids = _task_ids(data.getlist("selected"))
        if target == "selected":
            if not task_ids:
                return _bulk_error(request, form, "Select at least one task.", 400)
            tasks = bulk_tasks.selected(scope, task_ids)
            preview = bulk_tasks.preview_selection(action, tasks)
        else:
            preview = bulk_tasks.preview_matching(action, scope, filters)
    except TaskNotFound as missing:
        return _bulk_error(request, form, str(missing), 404)
    except (InvalidArgument, QueueNotFound, ValueError) as invalid:
        return _bulk_error(request, form, str(invalid), 400)

    if data.get("confirm") != "yes":
        context = {
            "title": "Confirm bulk action",
            "preview": bulk_preview(preview),
            "target": target,
            "bulk": choice,
            "description": form.describe(),
            "filter_params": form.filter_params(),
            "task_ids": [str(t) for t in dict.fromkeys(task_ids)] if target == "selected" else [],
            "as_of": as_of.isoformat(),
            "back_url": _runs_url(form.query()),
        }
        return render(request, "dashboard/runs_confirm.html", context)

    if target == "selected":
        outcome = bulk_tasks.apply(request.principal, action, tasks)
    else:
        outcome = bulk_tasks.apply_to_matching(request.principal, action, scope, filters)
    response = redirect(_runs_url(form.query()))
    return toast(request, response, *bulk_outcome_toast(outcome))


urlpatterns = [
    path("runs/", runs, name="runs"),
    path("runs/bulk", runs_bulk, name="runs_bulk"),
]
