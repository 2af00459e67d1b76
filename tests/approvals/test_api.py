"""Approvals in the JSON API: tenant-scoped, role-checked, exactly once."""

import json

import pytest
from django.test import Client

from approvals.models import ApprovalRequest
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.approvals.conftest import emitted


@pytest.fixture
def keys(db):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    other = Tenant.objects.create(slug="other", name="Other")
    return {
        "operator": issue_key(acme, "bot", role="operator").key,
        "viewer": issue_key(acme, "reader", role="viewer").key,
        "other": issue_key(other, "theirs", role="admin").key,
    }


def call(method, path, key, body=None):
    client = Client()
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(f"/api/v1/approvals{path}", **kwargs)


def test_list_and_get(make_request, keys):
    request, _ = make_request(approvers=["a@example.com", "b@example.com"], policy="all")
    listed = call("get", "", keys["viewer"]).json()
    assert [item["id"] for item in listed["items"]] == [request.pk]
    assert listed["next_before"] is None
    detail = call("get", f"/{request.pk}", keys["viewer"]).json()
    assert detail["title"] == "Pay the invoice" and detail["state"] == "pending"
    assert [a["approver"] for a in detail["answers"]] == ["a@example.com", "b@example.com"]
    assert [row["kind"] for row in detail["audit"]][:3] == ["requested", "notified", "notified"]
    assert "token_hash" not in json.dumps(detail)


def test_keyset_pagination(make_request, keys):
    made = [make_request()[0].pk for _ in range(3)]
    first = call("get", "?limit=2", keys["viewer"]).json()
    assert [i["id"] for i in first["items"]] == made[::-1][:2]
    second = call("get", f"?limit=2&before={first['next_before']}", keys["viewer"]).json()
    assert [i["id"] for i in second["items"]] == [made[0]] and second["next_before"] is None


def test_decide_exactly_once_for_an_approver(make_request, keys):
    request, _ = make_request()
    body = {"approver": "a@example.com", "decision": "approve", "comment": "via slack"}
    first = call("post", f"/{request.pk}/decide", keys["operator"], body)
    assert first.status_code == 200 and first.json() == {"settled": True, "state": "approved"}
    again = call("post", f"/{request.pk}/decide", keys["operator"], body)
    assert again.status_code == 409 and "already" in again.json()["detail"]
    payload = emitted(request)
    assert payload["outcome"] == "approved"
    assert payload["answers"][0]["via"] == "key:bot for a@example.com"


@pytest.mark.parametrize(
    ("key", "path", "body", "status"),
    [
        ("viewer", "/{id}/decide", {"approver": "a@example.com", "decision": "approve"}, 403),
        ("viewer", "/{id}/cancel", None, 403),
        ("other", "/{id}", None, 404),
        ("other", "/{id}/decide", {"approver": "a@example.com", "decision": "approve"}, 404),
        ("other", "/{id}/cancel", None, 404),
        ("operator", "/{id}/decide", {"approver": "x@example.com", "decision": "approve"}, 404),
        ("operator", "/{id}/decide", {"approver": "a@example.com", "decision": "maybe"}, 422),
        ("operator", "/999999/decide", {"approver": "a@example.com", "decision": "approve"}, 404),
    ],
)
def test_refusals_change_nothing(make_request, keys, key, path, body, status):
    request, _ = make_request()
    method = "get" if body is None and not path.endswith("cancel") else "post"
    response = call(method, path.format(id=request.pk), keys[key], body)
    assert response.status_code == status, response.content
    request.refresh_from_db()
    assert request.state == "pending" and emitted(request) is None


def test_other_tenants_see_nothing_in_the_list(make_request, keys):
    make_request()
    assert call("get", "", keys["other"]).json()["items"] == []


def test_cancel_tells_the_workflow(make_request, keys):
    request, _ = make_request()
    response = call("post", f"/{request.pk}/cancel", keys["operator"])
    assert response.json() == {"cancelled": True, "state": "cancelled"}
    assert call("post", f"/{request.pk}/cancel", keys["operator"]).json()["cancelled"] is False
    assert emitted(request)["outcome"] == "cancelled"
    assert ApprovalRequest.objects.get(pk=request.pk).decided_by == "key:bot"
