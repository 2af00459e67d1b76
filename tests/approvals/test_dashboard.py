"""The dashboard's approvals page: scoped by tenant, audit trail shown, cancel for operators."""

import pytest
from django.test import Client
from django.urls import reverse

from approvals.models import ApprovalRequest
from tenants.models import Tenant
from tests.approvals.conftest import emitted
from tests.helpers import role_user


def login(role, tenant="acme"):
    tenant_obj, _ = Tenant.objects.get_or_create(slug=tenant, defaults={"name": tenant})
    client = Client()
    client.force_login(role_user(f"{tenant}-{role}", tenant_obj, role))
    return client


def test_viewers_see_requests_with_their_audit_trail_but_no_cancel(make_request):
    request, _ = make_request(approvers=["a@example.com"])
    body = login("viewer").get(reverse("dashboard:approvals")).content.decode()
    assert f"#{request.pk}</span> Pay the invoice" in body
    assert "a@example.com" in body
    assert "Asked a@example.com (any one decides)" in body and "Link sent to a@example.com" in body
    assert "Cancel request" not in body


def test_state_filter(make_request):
    make_request()
    client = login("viewer")
    assert (
        "Pay the invoice"
        in client.get(reverse("dashboard:approvals") + "?state=pending").content.decode()
    )
    assert (
        "Pay the invoice"
        not in client.get(reverse("dashboard:approvals") + "?state=approved").content.decode()
    )


def test_operators_cancel_and_the_workflow_is_told(make_request):
    request, _ = make_request()
    client = login("operator")
    assert "Cancel request" in client.get(reverse("dashboard:approvals")).content.decode()
    response = client.post(reverse("dashboard:cancel_approval", args=[request.pk]), follow=True)
    assert "the workflow was told" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=request.pk).state == "cancelled"
    assert emitted(request)["outcome"] == "cancelled"


@pytest.mark.parametrize(
    ("role", "tenant", "status"), [("viewer", "acme", 403), ("admin", "other", 404)]
)
def test_cancel_is_refused_to_viewers_and_other_tenants(make_request, role, tenant, status):
    request, _ = make_request()
    response = login(role, tenant).post(reverse("dashboard:cancel_approval", args=[request.pk]))
    assert response.status_code == status
    assert ApprovalRequest.objects.get(pk=request.pk).state == "pending"
