"""The task page. One task: runs, timeline, checkpoints, wait; cancel, retry, emit.

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace. The page's dynamic part (``task_live``) is polled by
htmx every 2 s while the task is unfinished. The actions are plain POST forms:
JavaScript asks for confirmation in a modal and sends ``confirmed=1``; without
it, the first POST answers with a confirmation page. Logic lives in
absurd_core.actions.tasks (actions and their audit) and absurd_core.queries.checkpoints
(checkpoint values, run claims); the forms are dashboard.forms.task_forms, the
formatting of values and failures dashboard.presenters.
"""

from __future__ import annotations

import hashlib
import json
from uuid import UUID

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from absurd_core.actions import tasks as task_actions
from absurd_core.audit import task_timeline
from absurd_core.children import WAIT_EVENT_PREFIX as CHILDREN_EVENT_PREFIX
from absurd_core.errors import TaskNotFound
from absurd_core.queries.checkpoints import checkpoint_values, run_claims
from absurd_core.queries.children import task_family
from absurd_core.queries.schedules import spawned_by
from absurd_core.queries.tasks import TaskDetail, find_task
from absurd_core.step_timings import step_timeline
from approvals.requests import requests_for_task
from dashboard.access import dashboard_view
from dashboard.feedback import toast
from dashboard.forms.task_forms import EmitEventForm, RetryForm
from dashboard.presenters import (
    attempts_warning,
    delayed_start,
    engine_reason,
    failure_view,
    family_view,
    json_block,
    spawned_by_text,
    timeline_view,
)
from dashboard.worker_liveness import dead_hold_notes
from tenants.permissions import Action

TIMELINE_DETAIL_CHARS = 500


def _task(request, task_id: UUID) -> TaskDetail:
    try:
        return find_task(request.principal.scope, task_id)
    except TaskNotFound:
        raise Http404(f"No task {task_id}.") from None


def _wait_view(task: TaskDetail, approvals: list) -> dict | None:
    if not task.wait:
        return None
    wait = dict(task.wait)
    event = wait.get("event")
    if event:
        # An HTML id that stays while the task waits on this event in this run (hx-preserve).
        run_id = task.runs[-1].run_id if task.runs else ""
        digest = hashlib.sha1(f"{run_id}:{event}".encode(), usedforsecurity=False)
        wait["key"] = f"emit-{digest.hexdigest()[:16]}"
        if event.startswith(CHILDREN_EVENT_PREFIX):
            # A wait for children (ctx.await_children): their trigger emits it, nobody else.
            wait["children"] = True
            wait["approval"] = True  # like a decision: no emit form, no refusal note
        elif task_actions.reserved_event(event):
            # The decision's name is random: find the request by the name it recorded.
            wait["approval"] = True
            wait["approval_id"] = next((a.pk for a in approvals if a.event_name == event), None)
    return wait


def _detail(value) -> str:
    """A timeline entry's detail, compact and cut short."""
    if value in (None, {}, []):
        return ""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= TIMELINE_DETAIL_CHARS else text[:TIMELINE_DETAIL_CHARS] + "…"


def _failure_name(failure) -> str | None:
    name = failure.get("name") if isinstance(failure, dict) else None
    return name if isinstance(name, str) else None


def _context(request, task: TaskDetail, *, emit_form=None, action_error=None) -> dict:
    scope = request.principal.scope
    claims = run_claims(scope, task.queue, task.task_id)
    may_operate = request.principal.can(Action.OPERATE)
    approvals = list(requests_for_task(scope, task.queue, task.task_id).order_by("id"))
    wait = _wait_view(task, approvals)
    emit_refusal = None
    if wait and wait.get("event") and not wait.get("approval"):
        emit_refusal = task_actions.emit_refusal(request.principal, task, wait["event"])
    emittable = bool(wait and wait.get("event") and not wait.get("approval") and not emit_refusal)
    if emit_form is None and may_operate and emittable:
        emit_form = EmitEventForm(initial={"event": wait["event"]})
    now = timezone.now()
    timeline_entries = task_timeline(scope, task.queue, task.task_id)
    checkpoints = checkpoint_values(scope, task.queue, task.task_id)
    steps = step_timeline(task.runs, checkpoints.items, timeline_entries, now)
    # An attempt's first start: the engine's started_at is its last claim (after a sleep).
    first_starts = {s.attempt: s.start for s in steps.spans if s.kind == "attempt"}
    schedule, slot = spawned_by(scope, task.headers)
    if schedule is not None and schedule.tenant != task_actions.task_tenant(task):
        schedule = None  # a header another tenant wrote: not its schedule
    return {
        "task": task,
        "spawned_by": spawned_by_text(schedule.name, slot) if schedule else None,
        "spawned_by_id": schedule.id if schedule else None,
        "tenant": task_actions.task_tenant(task),
        "terminal": task.state in task_actions.TERMINAL,
        "cancellable": task.state in task_actions.CANCELLABLE,
        "may_operate": may_operate,
        "params": json_block(task.params),
        "headers": json_block(task.headers),
        "result": json_block(task.result) if task.state == "completed" else None,
        "failure": failure_view(task.failure),
        "attempts_warning": attempts_warning(task.attempts, task.max_attempts),
        "starts": delayed_start(task.starts_at, now),
        "dead_hold": dead_hold_notes(scope, [task]).get(task.task_id),
        "runs": [
            {
                "run": run,
                "started": first_starts.get(run.attempt, run.started_at),
                "claimed_by": claims.get(run.run_id),
                "failure": failure_view(run.failure),
                "reason": engine_reason(_failure_name(run.failure)),
            }
            for run in reversed(task.runs)
        ],
        "failure_reason": engine_reason(_failure_name(task.failure)),
        "timeline": [
            {"entry": entry, "detail": _detail(entry.detail)} for entry in timeline_entries
        ],
        "checkpoints": checkpoints,
        "step_timeline": timeline_view(steps, now),
        "now": now,
        "approvals": approvals,
        "wait": wait,
        "emit_refusal": emit_refusal if may_operate else None,
        "emit_form": emit_form,
        "action_error": action_error,
        "family": family_view(task.task_id, task_family(scope, task)),
    }


@require_safe
@dashboard_view()
def task(request, task_id: UUID):
    return render(request, "dashboard/task.html", _context(request, _task(request, task_id)))


@require_safe
@dashboard_view()
def task_live(request, task_id: UUID):
    """The page's dynamic part alone, for htmx polling."""
    return render(request, "dashboard/_task_live.html", _context(request, _task(request, task_id)))


def _refused(request, task_id: UUID, message: str, *, status: int = 409, emit_form=None):
    """The task page again with the error inline (and as a toast), nothing changed."""
    response = render(
        request,
        "dashboard/task.html",
        _context(request, _task(request, task_id), emit_form=emit_form, action_error=message),
        status=status,
    )
    return toast(request, response, "error", message)


def _confirm(request, task: TaskDetail, action: str, question: str, fields: dict) -> HttpResponse:
    """The confirmation step for a browser without JavaScript: the same POST plus confirmed=1."""
    return render(
        request,
        "dashboard/task_confirm.html",
        {
            "task": task,
            "question": question,
            "action_url": reverse(f"dashboard:task_{action}", args=[task.task_id]),
            "fields": fields,
            "danger": action == "cancel",
        },
    )


def _confirmed(request) -> bool:
    return request.POST.get("confirmed") == "1"


def _back(request, task_id: UUID, level: str, text: str) -> HttpResponse:
    return toast(request, redirect("dashboard:task", task_id=task_id), level, text)


@require_POST
@dashboard_view(Action.OPERATE)
def cancel(request, task_id: UUID):
    task = _task(request, task_id)
    if task.state not in task_actions.CANCELLABLE:
        return _refused(request, task_id, f"The task is {task.state}; it cannot be cancelled.")
    if not _confirmed(request):
        return _confirm(request, task, "cancel", f"Cancel this {task.state} task?", {})
    try:
        task_actions.cancel(request.principal, task_id)
    except task_actions.ActionRefused as exc:
        return _refused(request, task_id, exc.message)
    return _back(request, task_id, "success", "Task cancelled.")


@require_POST
@dashboard_view(Action.OPERATE)
def retry(request, task_id: UUID):
    task = _task(request, task_id)
    form = RetryForm(request.POST)
    form.is_valid()  # a checkbox: always valid
    spawn_new = form.cleaned_data.get("spawn_new", False)
    if task.state != "failed":
        return _refused(request, task_id, f"The task is {task.state}; only a failed task retries.")
    if not _confirmed(request):
        question = "Retry this failed task as a new task?" if spawn_new else "Retry this task?"
        fields = {"spawn_new": "on"} if spawn_new else {}
        return _confirm(request, task, "retry", question, fields)
    try:
        outcome = task_actions.retry(request.principal, task_id, spawn_new=spawn_new)
    except task_actions.ActionRefused as exc:
        return _refused(request, task_id, exc.message)
    if outcome.created:
        return _back(request, outcome.task_id, "success", "Retried as a new task.")
    return _back(request, task_id, "success", f"Retried: attempt {outcome.attempt} is pending.")


@require_POST
@dashboard_view(Action.OPERATE)
def emit(request, task_id: UUID):
    task = _task(request, task_id)
    form = EmitEventForm(request.POST)
    if not form.is_valid():
        return _refused(request, task_id, "The event was not emitted: fix the payload.",
                        status=400, emit_form=form)  # fmt: skip
    event = form.cleaned_data["event"]
    waiting_for = (task.wait or {}).get("event")
    if waiting_for != event:
        now = f"waits for {waiting_for!r}" if waiting_for else f"is {task.state}"
        return _refused(request, task_id, f"Not emitted: the task now {now}.")
    if task_actions.reserved_event(event):
        return _refused(request, task_id, "Not emitted: decide the approval request instead.")
    refusal = task_actions.emit_refusal(request.principal, task, event)
    if refusal:
        return _refused(request, task_id, f"Not emitted. {refusal}", status=403)
    if not _confirmed(request):
        fields = {"event": event, "payload": request.POST.get("payload", "")}
        return _confirm(request, task, "emit", f"Emit {event!r} on queue {task.queue!r}?", fields)
    try:
        payload = form.cleaned_data["payload"]
        task_actions.emit_wait_event(request.principal, task_id, event, payload)
    except task_actions.ActionRefused as exc:
        return _refused(request, task_id, exc.message, emit_form=form)
    return _back(request, task_id, "success", f"Emitted {event!r}.")


urlpatterns = [
    path("tasks/<uuid:task_id>/", task, name="task"),
    path("tasks/<uuid:task_id>/live", task_live, name="task_live"),
    path("tasks/<uuid:task_id>/cancel", cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/retry", retry, name="task_retry"),
    path("tasks/<uuid:task_id>/emit", emit, name="task_emit"),
]
