"""Isolation for what issue 19 names: the tenant switcher's wider list for platform staff
and the Settings tenant picker. Tenant A's admin, with B's slug and B's ids, gets nothing:
B is not offered, switching to it is refused, a forged session falls back to A, and B's
key and member ids are 404 (as existing isolation tests have it, never 403)."""

import pytest
from django.test import Client
from django.urls import reverse

from tenants.api_keys import issue_key
from tenants.models import ApiKey, Membership, Tenant
from tenants.resolution import SESSION_KEY
from tests.helpers import role_user


@pytest.fixture
def world(db):
    a = Tenant.objects.create(slug="tenant-a", name="Tenant A")
    b = Tenant.objects.create(slug="tenant-b", name="Tenant B")
    Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    admin_a = role_user("admin-a", memberships={"tenant-a": "admin"})
    admin_b = role_user("admin-b", memberships={"tenant-b": "admin"})
    key_b = issue_key(b, "b-key").api_key
    return {"a": a, "b": b, "admin_a": admin_a, "admin_b": admin_b, "key_b": key_b}


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_tenant_a_admin_cannot_reach_tenant_b_by_its_slug(world):
    client = _client(world["admin_a"])
    overview = client.get(reverse("dashboard:overview")).content.decode()
    assert "tenant-b" not in overview
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "tenant-b"})
    assert client.session.get(SESSION_KEY) != "tenant-b"
    page = client.get(reverse("tenants:settings")).content.decode()
    assert "Settings of Tenant A" in page and "b-key" not in page
    # Forged into the session: still tenant A.
    session = client.session
    session[SESSION_KEY] = "tenant-b"
    session.save()
    page = client.get(reverse("tenants:settings")).content.decode()
    assert "Settings of Tenant A" in page and "Tenant B" not in page


def test_tenant_a_admin_gets_404_for_tenant_b_ids_and_changes_nothing(world):
    client = _client(world["admin_a"])
    member_b = Membership.objects.get(user=world["admin_b"])
    assert client.post(reverse("tenants:revoke_key", args=[world["key_b"].pk])).status_code == 404
    url = reverse("tenants:change_member", args=[member_b.pk])
    assert client.post(url, {"role": "viewer"}).status_code == 404
    assert client.post(url, {"remove": "1"}).status_code == 404
    world["key_b"].refresh_from_db()
    member_b.refresh_from_db()
    assert world["key_b"].revoked_at is None and member_b.role == "admin"


def test_the_new_key_panel_shows_only_the_creators_key(world):
    a_client = _client(world["admin_a"])
    a_client.post(reverse("tenants:create_key"), {"name": "alpha-key-name", "role": "viewer"})
    b_page = _client(world["admin_b"]).get(reverse("tenants:settings")).content.decode()
    assert 'id="new-key-panel"' not in b_page and "alpha-key-name" not in b_page
    assert ApiKey.objects.get(name="alpha-key-name").tenant == world["a"]


def test_staff_acting_as_tenant_a_cannot_touch_tenant_b_ids(world):
    staff = role_user("olga", memberships={"ops": "admin"})
    client = _client(staff)
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "tenant-a"})
    assert client.post(reverse("tenants:revoke_key", args=[world["key_b"].pk])).status_code == 404
    world["key_b"].refresh_from_db()
    assert world["key_b"].revoked_at is None
