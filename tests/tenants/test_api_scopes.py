"""API key scopes narrow what a key's role allows, on every operation."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import ApiKey, Tenant
from tests.helpers import manage


@pytest.fixture
def acme(db):
    engine.create_queue("demo")
    return Tenant.objects.create(slug="acme", name="Acme")


def call(method, path, key, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(Client(), method)(f"/api/v1{path}", **kwargs)


def test_a_scoped_key_may_call_only_its_scopes(acme):
    key = issue_key(acme, "reader", role="operator", scopes=["approvals:read"]).key
    assert call("get", "/approvals", key).status_code == 200
    refused = call("post", "/tasks", key, {"task": "demo.two_steps", "params": {"i": 1}})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This API key's scopes do not include tasks:write."


def test_scopes_never_widen_the_role(acme):
    key = issue_key(acme, "v", role="viewer", scopes=["tasks:write"]).key
    refused = call("post", "/tasks", key, {"task": "demo.two_steps", "params": {"i": 1}})
    assert refused.status_code == 403 and "viewer role may not operate" in refused.json()["detail"]


def test_a_key_without_scopes_may_do_all_its_role_allows(acme):
    key = issue_key(acme, "all", role="operator").key
    assert (
        call("post", "/tasks", key, {"task": "demo.two_steps", "params": {"i": 1}}).status_code
        == 201
    )
    assert call("get", "/approvals", key).status_code == 200


def test_unknown_scopes_are_refused(acme):
    with pytest.raises(ValidationError, match="Unknown scope"):
        issue_key(acme, "bad", scopes=["tasks:everything"])
    assert not ApiKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_create_api_key_takes_scopes():
    Tenant.objects.create(slug="acme", name="Acme")
    bad = manage("create_api_key", "--tenant", "acme", "--name", "x", "--scope", "nope")
    assert bad.returncode != 0 and "Unknown scope(s): nope" in bad.stderr
    ok = manage(
        "create_api_key",
        "--tenant",
        "acme",
        "--name",
        "bot",
        "--scope",
        "approvals:read",
        "--scope",
        "approvals:decide",
    )
    assert ok.returncode == 0, ok.stderr
    assert ApiKey.objects.get(name="bot").scopes == ["approvals:read", "approvals:decide"]
