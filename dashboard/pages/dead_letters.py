"""The dead letters page. Terminal failures, grouped.

- GET ``dead-letters/``: open dead letters grouped by task and error, and the
  list (state filter, one group, keyset pages). An htmx request that targets
  ``#dl-content`` gets that part alone (it reloads after every action).
- POST ``dead-letters/<id>/<retry|retry_new|discard>``: one action, idempotent.
- POST ``dead-letters/bulk``: an action on the selected dead letters, or on all
  open ones matching the filter. Without ``confirmed`` it answers with the
  confirmation (the count, and the note a discard needs); with it, it acts.

Actions need the operator role; each answers with a toast (HX-Trigger for
htmx, a message and a redirect otherwise; the list reloads on the
``deadLettersChanged`` client event, sent with django_htmx's
``trigger_client_event``). The filter and page cursor are read by
dashboard.forms.dead_letter_forms.DeadLetterFilterForm; the logic is in
absurd_core.queries.dead_letters (reads) and absurd_core.actions.dead_letters (the audited
actions; their wording: dashboard.presenters).

Its routes are in ``urlpatterns`` below; dashboard/urls.py includes them in the
``dashboard`` namespace.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, re_path
from django.utils.html import escape
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import trigger_client_event

from absurd_core.actions import dead_letters as actions
from absurd_core.engine import list_queues
from absurd_core.errors import AbsurdError
from absurd_core.models import DeadLetter
from absurd_core.queries.dead_letters import (
    STATES,
    DeadLetterFilter,
    dead_letter_page,
    groups,
    open_ids,
    open_summary,
)
from absurd_core.queries.dead_letters import dead_letters as scoped_dead_letters
from dashboard import presenters
from dashboard.access import dashboard_view
from dashboard.feedback import toast
from dashboard.forms.dead_letter_forms import FILTER_FIELDS, DeadLetterFilterForm, filter_params
from dashboard.next_url import safe_next
from tenants.permissions import Action

#: The event the list listens for to reload itself after an action.
CHANGED = "deadLettersChanged"


def _bad_request(request, message: str) -> HttpResponse:
    """400 with the message: as the body (escaped: htmx may swap it in inline) and in
    X-Error (for the toast of a failed htmx request)."""
    response = HttpResponse(escape(message), status=400)
    header = "".join(ch if " " <= ch <= "~" else "?" for ch in message)
    response["X-Error"] = header
    return response


def _group_rows(scope, flt: DeadLetterFilter, base: dict) -> list[tuple]:
    """(group, its query string, whether it is the active filter) for each open group."""
    rows = []
    for group in groups(scope, queue=flt.queue):
        key = (group.task_name, group.error_name, group.error_message)
        query = urlencode(
            {"state": "open", **base, "task": key[0], "error_name": key[1], "error": key[2]}
        )
        rows.append((group, query, flt.group == key))
    return rows


@require_safe
@dashboard_view()
def dead_letters(request):
    principal = request.principal
    form = DeadLetterFilterForm(request.GET)
    error = None
    if form.is_valid():
        flt, before = form.dead_letter_filter(), form.cursor()
    else:
        error, flt, before = form.first_error(), DeadLetterFilter(), None
    page = dead_letter_page(principal.scope, flt, before=before)
    params = filter_params(flt)
    group_params = {"queue": flt.queue} if flt.queue else {}
    context = {
        "title": "Dead letters",
        "principal": principal,
        "error": error,
        "flt": flt,
        "state": params["state"],
        "states": STATES,
        "queues": list_queues(),
        "groups": _group_rows(principal.scope, flt, group_params),
        "clear_group_query": urlencode({"state": params["state"], **group_params}),
        "page": page,
        "before": before,
        "filter_query": urlencode(params),
        "filter_params": params,
        "older_query": urlencode({**params, "before": page.next_before})
        if page.next_before
        else None,
        "may_operate": principal.can(Action.OPERATE),
        "open_matching": open_summary(principal.scope, flt)[0] if flt.state == "open" else 0,
        "bulk_limit": actions.BULK_LIMIT,
    }
    template = "dashboard/dead_letters.html"
    if request.htmx and request.htmx.target == "dl-content":
        template = "dashboard/_dead_letters_content.html"
    return render(request, template, context, status=400 if error else 200)


def _done(request, level: str, text: str) -> HttpResponse:
    """The answer to an action that was handled (applied or not)."""
    if request.htmx:
        response = trigger_client_event(HttpResponse(status=200), CHANGED)
        return toast(request, response, level, text)
    return toast(request, redirect(safe_next(request, "dashboard:dead_letters")), level, text)


@require_POST
@dashboard_view(Action.OPERATE)
def dead_letter_action(request, dead_letter_id: int, kind: str):
    kind = actions.Kind(kind)
    try:
        result = actions.apply(
            request.principal, int(dead_letter_id), kind, request.POST.get("note", "")
        )
    except DeadLetter.DoesNotExist:
        raise Http404(f"No dead letter {dead_letter_id}.") from None
    except actions.ActionError as exc:
        return _bad_request(request, str(exc))
    except AbsurdError as exc:
        return _done(request, "error", f"The engine refused: {exc.message}")
    return _done(request, *presenters.dead_letter_toast(kind, result))


def _parse_op(value: str) -> tuple[actions.Kind, str]:
    kind, _, target = value.partition(":")
    if target not in ("selected", "matching"):
        raise actions.ActionError(f"Unknown bulk action {value!r}.")
    return actions.parse_kind(kind), target


def _selected_ids(principal, raw: list[str]) -> list[int]:
    """The selected ids, all in the principal's scope (else 404: nothing is changed)."""
    if not raw:
        raise actions.ActionError("Select at least one dead letter.")
    if len(raw) > actions.BULK_LIMIT:
        raise actions.ActionError(f"Select at most {actions.BULK_LIMIT} dead letters.")
    if not all(value.isdigit() and len(value) <= 18 for value in raw):
        raise actions.ActionError("A selected id is not a dead letter id.")
    ids = sorted({int(value) for value in raw})
    found = set(
        scoped_dead_letters(principal.scope).filter(pk__in=ids).values_list("pk", flat=True)
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise Http404(f"No dead letter {missing[0]}.")
    return ids


@require_POST
@dashboard_view(Action.OPERATE)
def bulk(request):
    principal = request.principal
    try:
        kind, target = _parse_op(request.POST.get("op", ""))
        confirmed = request.POST.get("confirmed") == "1"
        if target == "selected":
            ids = _selected_ids(principal, request.POST.getlist("ids"))
            count = scoped_dead_letters(principal.scope, state="open").filter(pk__in=ids).count()
            up_to, flt = None, None
        else:
            form = DeadLetterFilterForm(request.POST, cursor="up_to")
            form.is_valid()
            if error := form.first_error(FILTER_FIELDS):
                raise actions.ActionError(error)
            flt = form.dead_letter_filter()
            if flt.state not in ("open", None):
                raise actions.ActionError("Bulk actions apply to open dead letters.")
            if error := form.first_error(("up_to",)):
                raise actions.ActionError(error)
            up_to = form.cursor()
            count, top = open_summary(principal.scope, flt, up_to=up_to)
            up_to = up_to if up_to is not None else top
            ids = None
        if confirmed:
            actions.clean_note(kind, request.POST.get("note", ""))
    except actions.ActionError as exc:
        return _bad_request(request, str(exc))

    if not confirmed:
        context = {
            "kind": kind,
            "verb": presenters.dead_letter_verb(kind),
            "op": f"{kind}:{target}",
            "target": target,
            "count": count,
            "ids": ids or [],
            "filter_params": filter_params(flt) if flt else {},
            "up_to": up_to,
            "bulk_limit": actions.BULK_LIMIT,
            "next": request.POST.get("next", ""),
        }
        template = "dashboard/_dead_letters_confirm.html"
        if not request.htmx:
            template = "dashboard/dead_letters_confirm.html"
        return render(request, template, context)

    if target == "matching":
        ids = open_ids(principal.scope, flt, up_to=up_to, limit=actions.BULK_LIMIT)
        remaining = max(count - len(ids), 0)
    else:
        remaining = 0
    try:
        outcome = actions.apply_bulk(
            principal, ids, kind, request.POST.get("note", ""), remaining=remaining
        )
    except actions.ActionError as exc:
        return _bad_request(request, str(exc))
    return _done(request, *presenters.dead_letter_bulk_toast(outcome))


urlpatterns = [
    path("dead-letters/", dead_letters, name="dead_letters"),
    path("dead-letters/bulk", bulk, name="dead_letters_bulk"),
    re_path(
        r"^dead-letters/(?P<dead_letter_id>[0-9]{1,18})/(?P<kind>retry|retry_new|discard)$",
        dead_letter_action,
        name="dead_letter_action",
    ),
]
