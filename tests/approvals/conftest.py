import re
from datetime import timedelta

import pytest
from django.core import mail

from absurd_core import engine, spawn
from approvals.delivery import send_link
from approvals.models import ApprovalRequest
from approvals.requests import create_request

LINK_RE = re.compile(r"https?://\S+/approvals/([A-Za-z0-9_-]{43})")


@pytest.fixture
def make_request(db):
    """An approval request made for a real (pending) demo task; returns (request, links)."""
    engine.create_queue("demo")

    def make(approvers=("a@example.com",), policy="any", tenant="acme", expires_in=3600, **kw):
        task = spawn("demo.two_steps", {"i": 1}, tenant=tenant)
        request = create_request(
            tenant=tenant,
            queue="demo",
            task_id=task.task_id,
            run_id=None,
            task_name="demo.two_steps",
            step_key="approval-request",
            title=kw.pop("title", "Pay the invoice"),
            description=kw.pop("description", "Invoice 42"),
            approvers=list(approvers),
            policy=policy,
            expires_in=timedelta(seconds=expires_in),
            context=kw.pop("context", {"amount": "120.00 EUR"}),
            reject_on_expiry=kw.pop("reject_on_expiry", True),
        )
        return request, links_for(request)

    return make


def links_for(request: ApprovalRequest) -> dict[str, str]:
    """Send every approver their link (what approvals.deliver does); approver -> raw token."""
    mail.outbox.clear()
    for token in request.tokens.all():
        send_link(token.pk, "request")
    links = {}
    for message in mail.outbox:
        (raw,) = LINK_RE.findall(message.body)
        links[message.to[0]] = raw
    return links


def emitted(request: ApprovalRequest):
    """The payload of approval:<id> on the request's queue, or None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select payload from absurd.e_demo where event_name = %s", [request.event_name]
        )
        row = cursor.fetchone()
    return engine.load_json(row[0]) if row else None
