"""The queues page: every queue with the tenant's counts, its pause and cleanup policy;
platform admins also create, pause, resume, clean up, re-configure and drop queues.

Queues are shared by every tenant, so each change needs a platform admin
(``Principal.require_platform_admin``: 403 otherwise) and others see no controls.
Changes are POSTs (CSRF-checked; GET is 405) that redirect back with a toast; a
form with bad input is shown again with its errors inline (400, or 409 for a name
that exists) and nothing changes. The work and the audit rows are in
absurd_core.actions.queues.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from absurd_core.actions import partitions as partition_actions
from absurd_core.actions import queues as queue_actions
from absurd_core.actions.queues import ConfirmationMismatch, QueueExists
from absurd_core.errors import InvalidArgument, InvalidQueueName, QueueNotFound
from absurd_core.queries.partitions import partition_info, storage_modes
from absurd_core.queries.queues import throughput
from dashboard.access import dashboard_view
from dashboard.feedback import toast
from dashboard.forms.queue_forms import (
    CleanupPolicyForm,
    CreateQueueForm,
    DetachPolicyForm,
    DropQueueForm,
)
from dashboard.presenters import (
    STORAGE_MODE_WORDS,
    byte_size,
    human_duration,
    partition_rows,
    partitions_dropped_toast,
    retention_text,
)
from dashboard.queue_table import queue_table_row
from tenants.permissions import Action


def _page(request, *, create_form=None, bound=None, status=200):
    """The page; ``bound``: (queue, "policy" | "drop", form) to show with its errors."""
    principal = request.principal
    admin = principal.platform and principal.can(Action.ADMIN)
    rows = []
    now = timezone.now()
    last_hour = throughput(principal.scope, minutes=60, now=now)
    modes = storage_modes()
    for row in queue_actions.queue_rows(principal.scope):
        item = {
            "queue": row,
            "counts": [(state, f"{count:,}") for state, count in row.state_counts],
            "ttl": human_duration(row.cleanup_ttl) if row.cleanup_ttl else "",
            "limit": f"{row.cleanup_limit:,}" if row.cleanup_limit else "",
            **queue_table_row(row, last_hour.get(row.name), principal.scope, now),
        }
        if admin and row.manageable:
            item["policy_form"] = CleanupPolicyForm.for_policy(
                row.name, row.cleanup_ttl, row.cleanup_limit
            )
            item["drop_form"] = DropQueueForm(row.name)
            if bound and bound[0] == row.name:
                item[f"{bound[1]}_form"] = bound[2]
                item["open"] = bound[1]
        _add_partitions(item, modes.get(row.name), principal.platform, admin, bound)
        rows.append(item)
    context = {
        "title": "Queues",
        "principal": principal,
        "scope": principal.scope,
        "may_manage": admin,
        "rows": rows,
        "any_partitions": any(item.get("partitions") for item in rows),
        "create_form": create_form or (CreateQueueForm() if admin else None),
    }
    return render(request, "dashboard/queues.html", context, status=status)


def _add_partitions(item: dict, mode: str | None, platform: bool, admin: bool, bound) -> None:
    """The storage badge for everyone; a partitioned queue's partitions for platform staff
    (sizes and estimates add up every tenant's tasks), its retention controls for admins."""
    queue = item["queue"]
    item["storage_mode"] = mode
    item["storage_words"] = STORAGE_MODE_WORDS.get(mode or "", "")
    if mode != "partitioned" or not platform or not queue.manageable:
        return
    info = partition_info(queue.name)
    item["partitions"] = partition_rows(info)
    item["partitions_size"] = byte_size(info.total_bytes)
    item["retention"] = retention_text(info)
    if admin:
        item["detach_form"] = DetachPolicyForm.for_policy(
            queue.name, info.detach_mode, info.detach_min_age
        )
        if bound and bound[0] == queue.name and bound[1] == "detach":
            item["detach_form"] = bound[2]
            item["open"] = "detach"


@require_safe
@dashboard_view()
def queues(request):
    return _page(request)


def _back(request, level: str, text: str, anchor: str = ""):
    response = redirect(reverse("dashboard:queues") + (f"#queue-{anchor}" if anchor else ""))
    return toast(request, response, level, text)


def _not_found():
    return Http404("No queue has that name.")


@require_POST
@dashboard_view()
def create_queue(request):
    request.principal.require_platform_admin("create a queue")
    form = CreateQueueForm(request.POST)
    if not form.is_valid():
        return _page(request, create_form=form, status=400)
    name = form.cleaned_data["name"]
    try:
        queue_actions.create_queue(
            request.principal, name, storage_mode=form.cleaned_data["storage_mode"]
        )
    except QueueExists:
        form.add_error("name", f"A queue named {name!r} exists already.")
        return _page(request, create_form=form, status=409)
    except InvalidQueueName as exc:  # the form validated it; the engine is the last word
        form.add_error("name", exc.message)
        return _page(request, create_form=form, status=400)
    except InvalidArgument as exc:
        form.add_error("storage_mode", exc.message)
        return _page(request, create_form=form, status=400)
    return _back(request, "success", f"Created queue {name}.", name)


@require_POST
@dashboard_view()
def drop_old_partitions(request, name: str):
    request.principal.require_platform_admin("drop a queue's old partitions")
    try:
        dropped = partition_actions.drop_old_partitions(request.principal, name)
    except (QueueNotFound, partition_actions.NotPartitioned):
        raise _not_found() from None
    except partition_actions.PartitionsBusy as exc:
        return _back(request, "warning", exc.message, name)
    level, text = partitions_dropped_toast(name, dropped)
    return _back(request, level, text, name)


@require_POST
@dashboard_view()
def detach_policy(request, name: str):
    request.principal.require_platform_admin("change a queue's partition retention")
    form = DetachPolicyForm(name, request.POST)
    if not form.is_valid():
        _exists_or_404(name)
        return _page(request, bound=(name, "detach", form), status=400)
    try:
        partition_actions.update_detach_policy(
            request.principal,
            name,
            detach_mode=form.cleaned_data["detach_mode"],
            detach_min_age=form.cleaned_data["detach_min_age"],
        )
    except (QueueNotFound, partition_actions.NotPartitioned):
        raise _not_found() from None
    return _back(request, "success", f"Saved how {name} drops old partitions.", name)


@require_POST
@dashboard_view()
def update_policy(request, name: str):
    request.principal.require_platform_admin("change a queue's cleanup policy")
    form = CleanupPolicyForm(name, request.POST)
    if not form.is_valid():
        _exists_or_404(name)
        return _page(request, bound=(name, "policy", form), status=400)
    try:
        queue_actions.update_cleanup_policy(
            request.principal,
            name,
            cleanup_ttl=form.cleaned_data["cleanup_ttl"],
            cleanup_limit=form.cleaned_data["cleanup_limit"],
        )
    except QueueNotFound:
        raise _not_found() from None
    except InvalidArgument as exc:
        form.add_error(None, exc.message)
        return _page(request, bound=(name, "policy", form), status=400)
    ttl = human_duration(form.cleaned_data["cleanup_ttl"])
    limit = form.cleaned_data["cleanup_limit"]
    return _back(
        request,
        "success",
        f"Queue {name} now keeps finished tasks for {ttl}, deleting at most {limit:,} per pass.",
        name,
    )


@require_POST
@dashboard_view()
def cleanup(request, name: str):
    request.principal.require_platform_admin("clean up a queue")
    try:
        result = queue_actions.cleanup(request.principal, name)
    except QueueNotFound:
        raise _not_found() from None
    return _back(
        request,
        "success",
        f"Cleaned up {name}: deleted {result.tasks_deleted:,} tasks and "
        f"{result.events_deleted:,} events.",
        name,
    )


@require_POST
@dashboard_view()
def drop_queue(request, name: str):
    request.principal.require_platform_admin("drop a queue")
    _exists_or_404(name)
    form = DropQueueForm(name, request.POST)
    if not form.is_valid():
        return _page(request, bound=(name, "drop", form), status=400)
    try:
        queue_actions.drop_queue(request.principal, name, form.cleaned_data["confirm"])
    except QueueNotFound:
        raise _not_found() from None
    except ConfirmationMismatch as exc:  # the form checked; kept for the contract's sake
        form.add_error("confirm", exc.message)
        return _page(request, bound=(name, "drop", form), status=400)
    return _back(request, "success", f"Dropped queue {name} and all its tasks.")


@require_POST
@dashboard_view()
def pause_queue(request, name: str):
    request.principal.require_platform_admin("pause a queue")
    try:
        changed = queue_actions.pause(request.principal, name)
    except QueueNotFound:
        raise _not_found() from None
    if changed:
        return _back(request, "success", f"Paused {name}: workers stop claiming from it.", name)
    return _back(request, "info", f"{name} was paused already.", name)


@require_POST
@dashboard_view()
def resume_queue(request, name: str):
    request.principal.require_platform_admin("resume a queue")
    try:
        changed = queue_actions.resume(request.principal, name)
    except QueueNotFound:
        raise _not_found() from None
    if changed:
        return _back(request, "success", f"Resumed {name}: workers claim from it again.", name)
    return _back(request, "info", f"{name} was not paused.", name)


def _exists_or_404(name: str) -> None:
    if not queue_actions.queue_exists(name):
        raise _not_found()


urlpatterns = [
    path("queues/", queues, name="queues"),
    path("queues/create", create_queue, name="create_queue"),
    path("queues/<str:name>/policy", update_policy, name="queue_policy"),
    path("queues/<str:name>/cleanup", cleanup, name="queue_cleanup"),
    path("queues/<str:name>/drop", drop_queue, name="drop_queue"),
    path("queues/<str:name>/pause", pause_queue, name="pause_queue"),
    path("queues/<str:name>/resume", resume_queue, name="resume_queue"),
    path("queues/<str:name>/partitions/drop", drop_old_partitions, name="queue_drop_partitions"),
    path("queues/<str:name>/partitions/policy", detach_policy, name="queue_detach_policy"),
]
