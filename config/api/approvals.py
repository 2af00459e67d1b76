"""Approvals in the JSON API: list, get, decide (for Slack bots and other integrations), cancel.

The API key's tenant scopes every call: another tenant's request is a 404.
Reading needs the viewer role (scope approvals:read); deciding and cancelling
need operator (scope approvals:decide). A
decision goes through the same exactly-once path as the emailed link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from absurd_core.queries.paging import keyset_page
from approvals import decisions
from approvals.models import ApprovalRequest, ApprovalToken
from approvals.requests import get_request, requests_for
from config.api.input import StrictBody
from config.api.problems import Problem
from tenants.api_auth import api_principal
from tenants.permissions import Action, Principal

router = Router(tags=["approvals"])


class Answer(Schema):
    approver: str
    decision: str
    comment: str
    answered_at: datetime | None
    via: str
    notified_at: datetime | None
    notify_error: str
    revoked_at: datetime | None


class AuditRow(Schema):
    kind: str
    actor: str
    detail: dict[str, Any]
    created_at: datetime


class ApprovalOut(Schema):
    id: int
    title: str
    description: str
    state: str
    policy: str
    quorum: int
    queue: str
    task_id: str
    task_name: str
    requester: str
    context: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str


class ApprovalDetail(ApprovalOut):
    answers: list[Answer]
    audit: list[AuditRow]


class ApprovalPage(Schema):
    items: list[ApprovalOut]
    #: Pass as ``before`` for the next page; null on the last page.
    next_before: int | None


class ListFilters(Schema):
    state: Literal["pending", "approved", "rejected", "expired", "cancelled"] | None = None
    before: int | None = Field(None, description="Only requests with a smaller id (keyset).")
    limit: int = Field(50, ge=1, le=200)


class DecideIn(StrictBody):
    approver: str = Field(..., description="The approver this answer is given for.")
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)


class DecideOut(Schema):
    settled: bool
    state: str


class CancelOut(Schema):
    cancelled: bool
    state: str


def _out(approval: ApprovalRequest) -> dict:
    return {
        **{f: getattr(approval, f) for f in ApprovalOut.model_fields if hasattr(approval, f)},
        "task_id": str(approval.task_id),
    }


def _get(principal: Principal, approval_id: int) -> ApprovalRequest:
    try:
        return get_request(principal.scope, approval_id)
    except ApprovalRequest.DoesNotExist:
        raise HttpError(404, f"No approval request {approval_id}.") from None


@router.get(
    "",
    response=ApprovalPage,
    summary="List approval requests",
    description="Newest first, keyset-paginated with `before`.",
)
def list_approvals(request, filters: Query[ListFilters]):
    principal = api_principal(request, Action.VIEW, "approvals:read")
    rows, next_before = keyset_page(
        requests_for(principal.scope, state=filters.state).order_by("-id"),
        before=filters.before,
        limit=filters.limit,
    )
    return {"items": [_out(r) for r in rows], "next_before": next_before}


@router.get(
    "/{approval_id}",
    response={200: ApprovalDetail, 404: Problem},
    summary="Get an approval request with its answers and audit trail",
)
def get_approval(request, approval_id: int):
    approval = _get(api_principal(request, Action.VIEW, "approvals:read"), approval_id)
    answers = [
        {
            "approver": t.approver,
            "decision": t.decision,
            "comment": t.comment,
            "answered_at": t.used_at,
            "via": t.decided_via,
            "notified_at": t.notified_at,
            "notify_error": t.notify_error,
            "revoked_at": t.revoked_at,
        }
        for t in approval.tokens.all()
    ]
    audit = list(approval.events.values("kind", "actor", "detail", "created_at"))
    return {**_out(approval), "answers": answers, "audit": audit}


@router.post(
    "/{approval_id}/decide",
    response={200: DecideOut, 403: Problem, 404: Problem, 409: Problem},
    summary="Answer for an approver",
    description="Exactly once, like the emailed link: 409 when the approver already answered "
    "or the request is no longer open. Needs the operator role.",
)
def decide_approval(request, approval_id: int, body: DecideIn):
    principal = api_principal(request, Action.OPERATE, "approvals:decide")
    approval = _get(principal, approval_id)
    token = ApprovalToken.objects.filter(request=approval, approver=body.approver.lower()).first()
    if token is None:
        raise HttpError(404, f"{body.approver} is not an approver of request {approval_id}.")
    try:
        result = decisions.decide(
            token.pk,
            body.decision,
            comment=body.comment,
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            via=f"{principal.label} for {token.approver}",
        )
    except decisions.DecisionRefused as refusal:
        raise HttpError(409, str(refusal)) from None
    return {"settled": result.settled, "state": result.request.state}


@router.post(
    "/{approval_id}/cancel",
    response={200: CancelOut, 403: Problem, 404: Problem},
    summary="Cancel an open request",
    description="The workflow receives the outcome `cancelled`. Cancelling a settled request "
    "changes nothing (`cancelled` is false). Needs the operator role.",
)
def cancel_approval(request, approval_id: int):
    principal = api_principal(request, Action.OPERATE, "approvals:decide")
    approval = _get(principal, approval_id)
    cancelled = decisions.cancel(approval.pk, principal.label)
    approval.refresh_from_db()
    return {"cancelled": cancelled, "state": approval.state}
