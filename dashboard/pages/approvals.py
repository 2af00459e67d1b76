"""The dashboard's approvals page: requests with their audit trails; operators may cancel.

In the other pages' design: the page heading with the scope, the state filter as
pills, each request's outcome as a coloured badge (dashboard.presenters.approval_badge),
its task a link to the task page, its approvers' answers as badges and its audit trail
in words (``approval_event_text``), never Python dicts. The tenant is the one the
tenant switcher chose (the principal's scope): there is no other tenant selector.

A user who belongs to no tenant sees the page empty (``tenant_required=False``); a
cancel without a principal, or of a request outside the principal's scope, is a 404,
checked before the role so that a viewer learns nothing of ids it cannot see.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from approvals import decisions
from approvals.models import ApprovalRequest
from approvals.requests import get_request, requests_for
from dashboard.access import dashboard_view
from dashboard.presenters import answer_badge, approval_badge, approval_event_text
from tenants.permissions import Action


def _row(approval: ApprovalRequest) -> dict:
    return {
        "approval": approval,
        "badge": approval_badge(approval.state),
        "tokens": [(token, answer_badge(token.decision)) for token in approval.tokens.all()],
        "events": [
            (event, approval_event_text(event.kind, event.actor, event.detail))
            for event in approval.events.all()
        ],
    }


@require_safe
@dashboard_view(tenant_required=False)
def approvals(request):
    principal = request.principal
    state = request.GET.get("state") or None
    if state not in (None, *ApprovalRequest.State.values):
        state = None
    rows = ApprovalRequest.objects.none()
    if principal is not None:
        rows = requests_for(principal.scope, state=state).prefetch_related("tokens", "events")
    page = Paginator(rows.order_by("-id"), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/approvals.html",
        {
            "title": "Approvals",
            "principal": principal,
            "page": page,
            "rows": [_row(approval) for approval in page],
            "state": state or "",
            "states": ApprovalRequest.State.values,
            "show_tenant": principal is not None and principal.scope.is_all,
            "may_cancel": principal is not None and principal.can(Action.OPERATE),
        },
    )


@require_POST
@dashboard_view(tenant_required=False)
def cancel_approval(request, approval_id: int):
    principal = request.principal
    if principal is None:
        raise Http404
    try:
        approval = get_request(principal.scope, approval_id)
    except ApprovalRequest.DoesNotExist:
        raise Http404 from None
    principal.require(Action.OPERATE)
    if decisions.cancel(approval.pk, principal.label):
        messages.success(request, f"Cancelled request {approval.pk}; the workflow was told.")
    else:
        approval.refresh_from_db()
        messages.info(request, f"Request {approval.pk} was already {approval.state}.")
    return redirect("dashboard:approvals")


urlpatterns = [
    path("approval-requests/", approvals, name="approvals"),
    path(
        "approval-requests/<int:approval_id>/cancel",
        cancel_approval,
        name="cancel_approval",
    ),
]
