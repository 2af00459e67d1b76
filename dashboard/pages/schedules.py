"""The Schedules page: the tenant's recurring schedules (docs/schedules.md).

The list shows each schedule's task, its expression in words, the next fire (relative and
absolute), the last fire with the state of the task it spawned (linked), enabled or
paused, and a refused spawn. Operators create, pause, resume, trigger now and backfill;
admins edit and delete (run-time schedules only: one declared in code is paused, not
deleted). Every action is a POST that asks for confirmation first (a confirmation page:
the same POST plus ``confirmed=1``), goes through absurd_core.actions.schedules (audited
there) and redirects back with a toast. Another tenant's schedule id is a 404.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST, require_safe

from absurd_core.actions import schedules as actions
from absurd_core.errors import AbsurdError, RateLimited
from absurd_core.queries.schedules import (
    ScheduleNotFound,
    find_schedule,
    list_schedules,
    task_states,
    upcoming,
)
from absurd_core.schedule_firing import db_now
from dashboard.access import dashboard_view
from dashboard.feedback import toast
from dashboard.forms.schedule_forms import (
    BackfillForm,
    DeleteScheduleForm,
    EditScheduleForm,
    ScheduleForm,
)
from dashboard.presenters import (
    backfill_toast,
    relative_time,
    schedule_in_words,
    schedule_toast,
)
from tenants.permissions import Action

FORM_FIELDS = ("cron", "every_seconds", "timezone", "catch_up", "catch_up_cap", "jitter_seconds")


def _row(schedule, states, now, principal, bound):
    may_operate = principal.can(Action.OPERATE)
    may_admin = principal.can(Action.ADMIN)
    item = {
        "s": schedule,
        "words": schedule_in_words(schedule.cron, schedule.every_seconds, schedule.timezone),
        "next_relative": relative_time(schedule.next_fire_at, now) if schedule.enabled else "",
        "last_relative": relative_time(schedule.last_fire_at, now),
        "last_state": states.get(schedule.last_task_id),
        "late": schedule.enabled
        and schedule.due_at is not None
        and (now - schedule.due_at).total_seconds() > 60,
        "upcoming": upcoming(schedule, 5, after=now) if schedule.enabled else [],
    }
    if may_operate:
        item["backfill_form"] = BackfillForm(prefix_id=f"backfill-{schedule.id}")
    if may_admin and not schedule.code_owned:
        item["edit_form"] = EditScheduleForm(
            prefix_id=f"edit-{schedule.id}",
            initial={
                "task": schedule.task_name,
                "params": schedule.params or {},
                **{f: getattr(schedule, f) for f in FORM_FIELDS},
            },
        )
        item["delete_form"] = DeleteScheduleForm(schedule.name, prefix_id=f"delete-{schedule.id}")
    if bound and bound[0] == schedule.id:
        item[f"{bound[1]}_form"] = bound[2]
        item["open"] = bound[1]
    return item


def _page(request, *, create_form=None, bound=None, status=200):
    principal = request.principal
    now = db_now()
    schedules = list_schedules(principal.scope)
    states = task_states(schedules)
    context = {
        "title": "Schedules",
        "scope": principal.scope,
        "may_operate": principal.can(Action.OPERATE) and not principal.scope.is_all,
        "rows": [_row(s, states, now, principal, bound) for s in schedules],
        "create_form": create_form
        or (ScheduleForm(prefix_id="create") if principal.can(Action.OPERATE) else None),
        "now": now,
    }
    return render(request, "dashboard/schedules.html", context, status=status)


@require_safe
@dashboard_view()
def schedules(request):
    return _page(request)


def _back(request, level: str, text: str, schedule_id=None) -> HttpResponse:
    anchor = f"#schedule-{schedule_id}" if schedule_id else ""
    return toast(request, redirect(reverse("dashboard:schedules") + anchor), level, text)


def _find(request, schedule_id: int):
    try:
        return find_schedule(request.principal.scope, schedule_id)
    except ScheduleNotFound:
        raise Http404("No such schedule.") from None


def _confirmed(request) -> bool:
    return request.POST.get("confirmed") == "1"


def _confirm(request, schedule, action: str, question: str, fields: dict) -> HttpResponse:
    return render(
        request,
        "dashboard/schedules_confirm.html",
        {
            "schedule": schedule,
            "question": question,
            "action_url": reverse(f"dashboard:schedule_{action}", args=[schedule.id]),
            "fields": fields,
            "danger": action == "delete",
        },
    )


def _field_errors(form, exc: AbsurdError) -> None:
    field = getattr(exc, "field", None)
    field = "task" if field == "task_name" else field
    form.add_error(field if field in form.fields else None, str(exc))


@require_POST
@dashboard_view(Action.OPERATE)
def create(request):
    form = ScheduleForm(request.POST, prefix_id="create")
    if not form.is_valid():
        return _page(request, create_form=form, status=400)
    data = form.cleaned_data
    try:
        schedule = actions.create_schedule(
            request.principal,
            name=data["name"],
            task=data["task"],
            cron=data["cron"],
            every_seconds=data["every_seconds"],
            params=data["params"],
            timezone=data["timezone"],
            catch_up=data["catch_up"],
            catch_up_cap=data["catch_up_cap"],
            jitter_seconds=data["jitter_seconds"],
            detail={"via": "dashboard"},
        )
    except actions.ScheduleExists as exc:
        form.add_error("name", str(exc))
        return _page(request, create_form=form, status=409)
    except actions.UnknownTask as exc:
        form.add_error("task", str(exc))
        return _page(request, create_form=form, status=400)
    except AbsurdError as exc:
        _field_errors(form, exc)
        return _page(request, create_form=form, status=400)
    text = schedule_toast("create", schedule.name, schedule.next_fire_at)
    return _back(request, "success", text, schedule.id)


def _simple(action: str, verb_question: str):
    """pause, resume, trigger: confirm, act, toast."""

    @require_POST
    @dashboard_view(Action.OPERATE)
    def view(request, schedule_id: int):
        schedule = _find(request, schedule_id)
        if not _confirmed(request):
            return _confirm(request, schedule, action, verb_question.format(name=schedule.name), {})
        try:
            if action == "trigger":
                actions.trigger_schedule(request.principal, schedule.id, detail=VIA)
                return _back(
                    request, "success", schedule_toast("trigger", schedule.name), schedule.id
                )
            done = getattr(actions, f"{action}_schedule")(
                request.principal, schedule.id, detail=VIA
            )
        except RateLimited as exc:
            return _back(request, "error", f"Not spawned: {exc}", schedule.id)
        except ScheduleNotFound:
            raise Http404("No such schedule.") from None
        except AbsurdError as exc:
            return _back(request, "error", str(exc), schedule.id)
        return _back(
            request, "success", schedule_toast(action, done.name, done.next_fire_at), done.id
        )

    view.__name__ = action
    return view


VIA = {"via": "dashboard"}
pause = _simple("pause", "Pause schedule {name}? It fires nothing until it is resumed.")
resume = _simple("resume", "Resume schedule {name}? Slots missed while paused are not fired.")
trigger = _simple("trigger", "Spawn {name}'s task now?")


@require_POST
@dashboard_view(Action.OPERATE)
def backfill(request, schedule_id: int):
    schedule = _find(request, schedule_id)
    form = BackfillForm(request.POST, prefix_id=f"backfill-{schedule.id}")
    if not form.is_valid():
        return _page(request, bound=(schedule.id, "backfill", form), status=400)
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    if not _confirmed(request):
        fields = {"start": request.POST.get("start", ""), "end": request.POST.get("end", "")}
        span = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        question = f"Spawn every slot of {schedule.name} from {span}?"
        return _confirm(request, schedule, "backfill", question, fields)
    try:
        done = actions.backfill(request.principal, schedule.id, start, end, detail=VIA)
    except (actions.BackfillTooLarge, actions.InvalidSchedule) as exc:
        form.add_error(None, str(exc))
        return _page(request, bound=(schedule.id, "backfill", form), status=400)
    except RateLimited as exc:
        return _back(request, "error", f"Nothing spawned: {exc}", schedule.id)
    created = sum(1 for _, r in done if r.created)
    return _back(request, "success", backfill_toast(schedule.name, len(done), created), schedule.id)


@require_POST
@dashboard_view(Action.ADMIN)
def edit(request, schedule_id: int):
    schedule = _find(request, schedule_id)
    form = EditScheduleForm(request.POST, prefix_id=f"edit-{schedule.id}")
    if not form.is_valid():
        return _page(request, bound=(schedule.id, "edit", form), status=400)
    data = dict(form.cleaned_data)
    changes = {"task_name": data.pop("task"), **data}
    if changes["cron"] is None and changes["every_seconds"] is None:
        form.add_error("cron", "Give a cron expression or an interval.")
        return _page(request, bound=(schedule.id, "edit", form), status=400)
    changes = {k: v for k, v in changes.items() if v is not None}
    try:
        done = actions.update_schedule(request.principal, schedule.id, changes, detail=VIA)
    except AbsurdError as exc:
        _field_errors(form, exc)
        return _page(request, bound=(schedule.id, "edit", form), status=400)
    return _back(
        request, "success", schedule_toast("update", done.name, done.next_fire_at), done.id
    )


@require_POST
@dashboard_view(Action.ADMIN)
def delete(request, schedule_id: int):
    schedule = _find(request, schedule_id)
    form = DeleteScheduleForm(schedule.name, request.POST, prefix_id=f"delete-{schedule.id}")
    if not form.is_valid():
        return _page(request, bound=(schedule.id, "delete", form), status=400)
    if not _confirmed(request):
        question = f"Delete schedule {schedule.name}? The tasks it spawned stay."
        return _confirm(request, schedule, "delete", question, {"confirm": schedule.name})
    try:
        actions.delete_schedule(request.principal, schedule.id, detail=VIA)
    except actions.CodeOwned as exc:
        return _back(request, "error", str(exc), schedule.id)
    return _back(request, "success", schedule_toast("delete", schedule.name))


urlpatterns = [
    path("schedules/", schedules, name="schedules"),
    path("schedules/create", create, name="schedule_create"),
    path("schedules/<int:schedule_id>/pause", pause, name="schedule_pause"),
    path("schedules/<int:schedule_id>/resume", resume, name="schedule_resume"),
    path("schedules/<int:schedule_id>/trigger", trigger, name="schedule_trigger"),
    path("schedules/<int:schedule_id>/backfill", backfill, name="schedule_backfill"),
    path("schedules/<int:schedule_id>/edit", edit, name="schedule_edit"),
    path("schedules/<int:schedule_id>/delete", delete, name="schedule_delete"),
]
