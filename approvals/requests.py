"""Creating approval requests, and reading them tenant-scoped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from absurd_core import spawn
from absurd_core.errors import InvalidArgument
from absurd_core.tenancy import TenantScope
from approvals import policy as policies
from approvals.models import ApprovalEvent, ApprovalRequest, ApprovalToken

DELIVER_TASK = "approvals.deliver"
MAX_APPROVERS = 50


def requests_for(scope: TenantScope, *, state: str | None = None) -> QuerySet[ApprovalRequest]:
    queryset = scope.restrict(ApprovalRequest.objects.all())
    if state:
        queryset = queryset.filter(state=state)
    return queryset


def get_request(scope: TenantScope, request_id: int) -> ApprovalRequest:
    """Raises ApprovalRequest.DoesNotExist, also for another tenant's request."""
    return requests_for(scope).get(pk=request_id)


def requests_for_task(scope: TenantScope, queue: str, task_id) -> QuerySet[ApprovalRequest]:
    return requests_for(scope).filter(queue=queue, task_id=task_id)


def audit(request: ApprovalRequest, kind: str, actor: str = "", **detail: Any) -> None:
    ApprovalEvent.objects.create(request=request, kind=kind, actor=actor, detail=detail)


def normalise_approvers(approvers: Any) -> list[str]:
    if isinstance(approvers, str) or not isinstance(approvers, list | tuple) or not approvers:
        raise InvalidArgument("approvers must be a non-empty list of email addresses.")
    cleaned: list[str] = []
    for email in approvers:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidArgument(f"{email!r} is not an email address.") from None
        email = email.strip().lower()
        if email not in cleaned:
            cleaned.append(email)
    if len(cleaned) > MAX_APPROVERS:
        raise InvalidArgument(f"At most {MAX_APPROVERS} approvers per request.")
    return cleaned


def create_request(
    *,
    tenant: str,
    queue: str,
    task_id,
    run_id,
    task_name: str,
    step_key: str,
    title: str,
    description: str,
    approvers: list[str],
    policy: object,
    expires_in: timedelta,
    context: dict | None,
    reject_on_expiry: bool,
    requester: str = "",
) -> ApprovalRequest:
    """Create the request, one token per approver, and the delivery task; once per step.

    Everything commits together: the delivery task (approvals.deliver) cannot be
    claimed before the request exists, so notifications go out after commit, by
    a durable task that Absurd retries.
    """
    approvers = normalise_approvers(approvers)
    try:
        kind, quorum = policies.parse(policy, len(approvers))
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if not title or len(title) > 200:
        raise InvalidArgument("title must be 1 to 200 characters.")
    if expires_in <= timedelta(0):
        raise InvalidArgument("expires_in must be positive.")
    with transaction.atomic():
        request, created = ApprovalRequest.objects.get_or_create(
            queue=queue,
            task_id=task_id,
            step_key=step_key,
            defaults={
                "tenant": tenant,
                "run_id": run_id,
                "task_name": task_name,
                "title": title,
                "description": description,
                "context": context or {},
                "requester": requester,
                "policy": kind,
                "quorum": quorum,
                "reject_on_expiry": reject_on_expiry,
                "expires_at": timezone.now() + expires_in,
            },
        )
        if not created:
            return request
        ApprovalToken.objects.bulk_create(
            ApprovalToken(
                request=request, tenant=tenant, approver=email, expires_at=request.expires_at
            )
            for email in approvers
        )
        audit(request, "requested", f"task:{task_name}", approvers=approvers, policy=kind)
        spawn(
            DELIVER_TASK,
            {"request_id": request.pk},
            tenant=tenant,
            idempotency_key=f"approval-deliver:{request.pk}",
        )
    return request
