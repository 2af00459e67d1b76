"""The dashboard's approvals page: requests with their audit trails; operators may cancel."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from absurd_core.index_keys import tenant_q
from approvals import decisions
from approvals.models import ApprovalRequest
from approvals.requests import get_request, requests_for
from tenants.permissions import Action
from tenants.resolution import principal_for_user


@login_required
def approvals(request):
    principal = principal_for_user(request.user, request.session)
    state = request.GET.get("state") or None
    if state not in (None, *ApprovalRequest.State.values):
        state = None
    rows = ApprovalRequest.objects.none()
    if principal is not None:
        rows = requests_for(principal.scope, state=state)
        tenant = request.GET.get("tenant")
        if principal.scope.is_all and tenant:
            rows = rows.filter(tenant_q(tenant))
        rows = rows.prefetch_related("tokens", "events")
    page = Paginator(rows.order_by("-id"), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/approvals.html",
        {
            "principal": principal,
            "page": page,
            "state": state or "",
            "states": ApprovalRequest.State.values,
            "may_cancel": principal is not None and principal.can(Action.OPERATE),
        },
    )


@login_required
@require_POST
def cancel_approval(request, approval_id: int):
    principal = principal_for_user(request.user, request.session)
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
