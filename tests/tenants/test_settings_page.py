"""Tenant settings: admins manage keys and members; platform admins change limits."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tenants.api_keys import issue_key, verify_key
from tenants.models import ApiKey, Membership, RateLimitPolicy, Tenant
from tests.helpers import role_user


@pytest.fixture
def acme(db):
    return Tenant.objects.create(slug="acme", name="Acme")


def member(tenant, role, username=None):
    user = role_user(username or f"{tenant.slug}-{role}", tenant, role)
    membership = Membership.objects.get(user=user, tenant=tenant)
    client = Client()
    client.force_login(user)
    return client, membership


def test_admins_create_a_key_shown_once_then_revoke_it(acme):
    client, _ = member(acme, "admin")
    response = client.post(
        reverse("tenants:create_key"),
        {"name": "slack", "role": "operator", "scopes": ["approvals:decide"]},
        follow=True,
    )
    text = response.content.decode()
    (shown,) = re.findall(r"ac_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", text)
    key = ApiKey.objects.get(name="slack")
    assert verify_key(shown).pk == key.pk and key.scopes == ["approvals:decide"]
    assert shown not in client.get(reverse("tenants:settings")).content.decode()
    client.post(reverse("tenants:revoke_key", args=[key.pk]))
    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_non_admins_get_403_and_change_nothing(acme, role):
    client, _ = member(acme, role)
    assert client.get(reverse("tenants:settings")).status_code == 403
    response = client.post(reverse("tenants:create_key"), {"name": "x", "role": "admin"})
    assert response.status_code == 403 and not ApiKey.objects.exists()


def test_another_tenants_key_and_member_are_404(acme):
    other = Tenant.objects.create(slug="other", name="Other")
    theirs = issue_key(other, "theirs").api_key
    _, their_member = member(other, "admin")
    client, _ = member(acme, "admin")
    assert client.post(reverse("tenants:revoke_key", args=[theirs.pk])).status_code == 404
    url = reverse("tenants:change_member", args=[their_member.pk])
    assert client.post(url, {"role": "viewer"}).status_code == 404
    theirs.refresh_from_db()
    their_member.refresh_from_db()
    assert theirs.revoked_at is None and their_member.role == "admin"


def test_members_are_added_changed_and_the_last_admin_stays(acme):
    client, me = member(acme, "admin")
    get_user_model().objects.create_user("bob", password="pw-long-12345")
    client.post(reverse("tenants:add_member"), {"username": "bob", "role": "viewer"})
    bob = Membership.objects.get(user__username="bob")
    client.post(reverse("tenants:change_member", args=[bob.pk]), {"role": "operator"})
    bob.refresh_from_db()
    assert bob.role == "operator"
    response = client.post(
        reverse("tenants:change_member", args=[me.pk]), {"role": "viewer"}, follow=True
    )
    assert "keeps at least one admin" in response.content.decode()
    me.refresh_from_db()
    assert me.role == "admin"
    response = client.post(
        reverse("tenants:add_member"), {"username": "nobody", "role": "viewer"}, follow=True
    )
    assert "No user named" in response.content.decode()


def test_tenant_admins_lower_limits_within_the_platform_default(acme):
    RateLimitPolicy.objects.update_or_create(
        tenant=None, defaults={"spawn_rate": 50, "spawn_burst": 100, "max_running": 20}
    )
    client, _ = member(acme, "admin")
    page = client.get(reverse("tenants:settings")).content.decode()
    assert "At most 20 (the platform default)." in page
    assert "concurrency_fail_open" not in page  # the fail-open flags stay with platform admins
    over = client.post(
        reverse("tenants:update_limits"),
        {"spawn_rate": 50, "spawn_burst": 100, "max_running": 21},
    )
    assert over.status_code == 400 and "only platform admins set more" in over.content.decode()
    assert not RateLimitPolicy.objects.filter(tenant=acme).exists()
    client.post(
        reverse("tenants:update_limits"), {"spawn_rate": 5, "spawn_burst": 10, "max_running": 3}
    )
    policy = RateLimitPolicy.objects.get(tenant=acme)
    assert (policy.spawn_rate, policy.spawn_burst, policy.max_running) == (5, 10, 3)


def test_platform_admins_set_any_limits(acme):
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    staff, staff_membership = member(platform, "admin", "olga")
    Membership.objects.create(user=staff_membership.user, tenant=acme, role="admin")
    staff.post(reverse("dashboard:switch_tenant"), {"tenant": "acme"})
    data = {"spawn_rate": 500, "spawn_burst": 1000, "max_running": 300}
    data["concurrency_fail_open"] = "on"
    bad = staff.post(reverse("tenants:update_limits"), {**data, "max_running": 0})
    assert bad.status_code == 400 and not RateLimitPolicy.objects.filter(tenant=acme).exists()
    staff.post(reverse("tenants:update_limits"), data)
    policy = RateLimitPolicy.objects.get(tenant=acme)
    assert (policy.spawn_rate, policy.spawn_burst, policy.max_running) == (500, 1000, 300)
    assert policy.spawn_fail_open is False and policy.concurrency_fail_open is True
