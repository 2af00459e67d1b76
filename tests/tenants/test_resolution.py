"""Tenant resolution and the permission layer."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from absurd_core import engine, spawn
from absurd_core.tenancy import TenantScope
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tenants.permissions import Action, Principal
from tenants.resolution import ALL, choices, principal_for_api_key, principal_for_user
from tests.helpers import role_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants():
    return {
        slug: Tenant.objects.create(slug=slug, name=slug.title(), is_platform=slug == "ops")
        for slug in ("acme", "globex", "ops")
    }


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {Action.VIEW}),
        ("operator", {Action.VIEW, Action.OPERATE}),
        ("admin", {Action.VIEW, Action.OPERATE, Action.ADMIN}),
        ("nonsense", set()),
    ],
)
def test_roles(role, allowed):
    principal = Principal(TenantScope("acme"), role, "user:x")
    for action in Action:
        assert principal.can(action) is (action in allowed)
        if action not in allowed:
            with pytest.raises(PermissionDenied, match=f"The {role} role may not"):
                principal.require(action)


def test_member_of_one_tenant(tenants):
    user = role_user("ann", memberships={"acme": "operator"})
    principal = principal_for_user(user, {})
    assert (principal.scope.slug, principal.role) == ("acme", "operator")
    assert [c.value for c in choices(user)] == ["acme"]


def test_switching_between_own_tenants_only(tenants):
    user = role_user("bob", memberships={"acme": "viewer", "globex": "admin"})
    session = {}
    assert principal_for_user(user, session).scope.slug == "acme"
    from tenants.resolution import switch_tenant

    assert switch_tenant(user, session, "globex")
    assert principal_for_user(user, session).role == "admin"
    assert not switch_tenant(user, session, "ops")  # not a member
    assert not switch_tenant(user, session, ALL)  # not platform
    assert principal_for_user(user, session).scope.slug == "globex"


def test_platform_members_may_choose_all_tenants(tenants):
    user = role_user("olga", memberships={"ops": "operator"})
    assert principal_for_user(user, {}).scope.is_all
    # Their own tenants first, then every other active tenant (issue 19: platform staff
    # reach any tenant, its settings included).
    assert [c.value for c in choices(user)] == [ALL, "ops", "acme", "globex"]


def test_no_membership_means_no_principal(tenants):
    assert principal_for_user(role_user("nobody"), {}) is None


def test_a_stale_session_choice_is_ignored(tenants):
    user = role_user("cy", memberships={"acme": "viewer"})
    session = {"absurd_control.active_tenant": "globex"}  # e.g. membership since removed
    assert principal_for_user(user, session).scope.slug == "acme"


def test_api_key_principal(tenants):
    issued = issue_key(tenants["acme"], "ci", role="viewer")
    principal = principal_for_api_key(issued.api_key)
    assert (principal.scope.slug, principal.role, principal.label) == ("acme", "viewer", "key:ci")


def test_dashboard_switch_changes_what_is_shown(client, tenants):
    engine.create_queue("demo")
    spawn("demo.two_steps", {"i": 1}, tenant="acme")
    spawn("demo.two_steps", {"i": 1}, tenant="globex")
    spawn("demo.two_steps", {"i": 2}, tenant="globex")
    client.force_login(role_user("dee", memberships={"acme": "viewer", "globex": "viewer"}))
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert 'name="tenant"' in page and "Tenant <strong>acme</strong>" in page
    response = client.post(reverse("dashboard:switch_tenant"), {"tenant": "globex", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert "Tenant <strong>globex</strong>" in page
    row = page.split('data-queue="demo"', 1)[1]
    assert re.search(r'data-state="pending"><a [^>]*>2</a>', row)
    refused = client.post(
        reverse("dashboard:switch_tenant"), {"tenant": "ops", "next": "https://evil.example/"}
    )
    assert refused["Location"] == reverse("dashboard:overview")  # no open redirect
    assert "Tenant <strong>globex</strong>" in client.get("/").content.decode()


@pytest.mark.parametrize(
    "target",
    [
        "nonexistent",  # a bare word: redirect() would reverse it as a URL name, a 500
        "dashboard:runs",  # a URL name is not a path the dashboard sends
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http://testserver/runs/",  # this host, but not a path
        "javascript:alert(1)",
        "/runs/\r\nSet-Cookie: x=1",  # a newline in Location is a 500 too
        "/" + "a" * 2001,
        "",
    ],
)
def test_switch_falls_back_to_the_overview_for_any_next_that_is_not_a_local_path(
    client, tenants, target
):
    client.force_login(role_user("dee", memberships={"acme": "viewer", "globex": "viewer"}))
    response = client.post(reverse("dashboard:switch_tenant"), {"tenant": "globex", "next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")
    # The switch itself still happened.
    assert "Tenant <strong>globex</strong>" in client.get("/").content.decode()


def test_switch_goes_back_to_the_page_it_came_from(client, tenants):
    client.force_login(role_user("dee", memberships={"acme": "viewer", "globex": "viewer"}))
    target = reverse("dashboard:runs") + "?state=failed&q=a%20b"
    response = client.post(reverse("dashboard:switch_tenant"), {"tenant": "globex", "next": target})
    assert response.status_code == 302 and response["Location"] == target


def test_switch_requires_post(client, tenants):
    client.force_login(role_user("eve", memberships={"acme": "viewer"}))
    assert client.get(reverse("dashboard:switch_tenant")).status_code == 405


def test_workers_are_listed_for_a_tenant_without_cross_tenant_counters(db):
    from django.utils import timezone

    from absurd_core.models import Worker
    from absurd_core.queries.workers import workers_for
    from absurd_core.tenancy import ALL_TENANTS, TenantScope

    now = timezone.now()
    Worker.objects.create(
        worker_id="w1",
        host="h",
        pid=1,
        queues=["demo"],
        concurrency=4,
        started_at=now,
        last_seen=now,
        in_flight=3,
        processed=1000,
        failed=7,
    )
    (tenant_view,) = workers_for(TenantScope("acme"))
    assert tenant_view.worker_id == "w1" and tenant_view.status == "alive"
    assert (tenant_view.in_flight, tenant_view.processed, tenant_view.failed) == (None, None, None)
    (platform_view,) = workers_for(TenantScope(ALL_TENANTS))
    assert (platform_view.in_flight, platform_view.processed, platform_view.failed) == (3, 1000, 7)


# -- roles: a principal's role is the role of the membership it acts through -----------


def _as(user, value):
    session = {}
    if value is not None:
        from tenants.resolution import switch_tenant

        assert switch_tenant(user, session, value), value
    principal = principal_for_user(user, session)
    return principal.scope.slug or ALL, principal.role, principal.platform


def test_a_platform_viewer_who_is_admin_of_a_tenant_gets_each_role_where_it_is_held(tenants):
    user = role_user("mix", memberships={"ops": "viewer", "acme": "admin"})
    assert [c.value for c in choices(user)] == [ALL, "acme", "ops", "globex"]
    # All tenants: only the platform membership counts, not the admin role held in acme.
    assert _as(user, None) == (ALL, "viewer", True)
    assert _as(user, ALL) == (ALL, "viewer", True)
    # Acting as acme: admin of acme, and no platform powers.
    assert _as(user, "acme") == ("acme", "admin", False)
    assert _as(user, "ops") == ("ops", "viewer", True)


def test_all_tenants_takes_the_widest_platform_role_only(tenants):
    Tenant.objects.create(slug="ops2", name="Ops 2", is_platform=True)
    user = role_user(
        "pat", memberships={"ops": "viewer", "ops2": "operator", "acme": "admin", "globex": "admin"}
    )
    assert _as(user, ALL) == (ALL, "operator", True)
    assert _as(user, "ops2") == ("ops2", "operator", True)
    assert _as(user, "globex") == ("globex", "admin", False)


def test_platform_powers_need_a_platform_admin_acting_as_the_platform(tenants):
    user = role_user("pia", memberships={"ops": "admin", "acme": "admin"})
    session = {}
    principal_for_user(user, session).require_platform_admin("pause a queue")
    from tenants.resolution import switch_tenant

    switch_tenant(user, session, "ops")
    principal_for_user(user, session).require_platform_admin("pause a queue")
    switch_tenant(user, session, "acme")
    with pytest.raises(PermissionDenied, match="only platform admins may pause a queue"):
        principal_for_user(user, session).require_platform_admin("pause a queue")


def test_superusers_are_platform_admins_only_while_acting_for_all_tenants(tenants):
    root = get_user_model().objects.create_superuser("root", "r@example.com", "pw-long-12345")
    Membership.objects.create(user=root, tenant=tenants["acme"], role="viewer")
    # Every other ordinary tenant too; a platform tenant only through a membership.
    assert [c.value for c in choices(root)] == [ALL, "acme", "globex"]
    assert _as(root, None) == (ALL, "admin", True)
    # A superuser acting as one of their tenants has that membership's role, nothing more.
    assert _as(root, "acme") == ("acme", "viewer", False)


def test_an_inactive_platform_tenant_grants_nothing(tenants):
    user = role_user("ina", memberships={"ops": "admin", "acme": "viewer"})
    Tenant.objects.filter(slug="ops").update(active=False)
    assert [c.value for c in choices(user)] == ["acme"]
    assert _as(user, None) == ("acme", "viewer", False)
    assert _as(user, "acme") == ("acme", "viewer", False)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_api_keys_have_platform_powers_only_for_a_platform_tenant(tenants, role):
    platform_key = principal_for_api_key(issue_key(tenants["ops"], "p", role=role).api_key)
    tenant_key = principal_for_api_key(issue_key(tenants["acme"], "t", role=role).api_key)
    assert (platform_key.role, platform_key.platform) == (role, True)
    assert (tenant_key.role, tenant_key.platform) == (role, False)
    assert platform_key.scope.slug == "ops"  # a platform key still acts as its tenant


def test_platform_staff_act_as_any_tenant_with_their_platform_role_and_no_platform_powers(
    tenants,
):
    olga = role_user("olga", memberships={"ops": "admin"})
    # Not a member of globex: the all-tenants role (admin), scoped to globex, no platform powers.
    assert _as(olga, "globex") == ("globex", "admin", False)
    viewer = role_user("vic", memberships={"ops": "viewer"})
    assert _as(viewer, "acme") == ("acme", "viewer", False)
    root = get_user_model().objects.create_superuser("root", "r@example.com", "pw-long-12345")
    assert _as(root, "globex") == ("globex", "admin", False)
    # An inactive tenant is offered to nobody, and a stale choice of it falls back to all.
    Tenant.objects.filter(slug="globex").update(active=False)
    assert "globex" not in [c.value for c in choices(root)]
    session = {"absurd_control.active_tenant": "globex"}
    assert principal_for_user(root, session).scope.is_all
    # A platform tenant the superuser is not a member of is not acted as, even if forged.
    session = {"absurd_control.active_tenant": "ops"}
    assert principal_for_user(root, session).scope.is_all


def test_ordinary_members_are_not_offered_other_tenants(tenants):
    from tenants.resolution import switch_tenant

    user = role_user("ann", memberships={"acme": "admin"})
    assert [c.value for c in choices(user)] == ["acme"]
    session = {"absurd_control.active_tenant": "globex"}  # forged into the session
    assert principal_for_user(user, session).scope.slug == "acme"
    assert not switch_tenant(user, session, "globex")
