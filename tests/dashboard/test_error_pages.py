"""Issue 19 item 1, no dead ends: error pages inside the dashboard shell that say why and
offer the way out; Settings from "All tenants" is a tenant picker; links a user cannot use
are not shown; problem details under /api/ stay; the 500 page needs no database or user."""

import json

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from tenants.models import ApiKey, Tenant
from tests.helpers import role_user


@pytest.fixture
def tenants(db):
    return {
        slug: Tenant.objects.create(slug=slug, name=slug.title(), is_platform=slug == "ops")
        for slug in ("acme", "globex", "ops")
    }


def _client(user, tenant=None):
    client = Client()
    client.force_login(user)
    if tenant is not None:
        client.post(reverse("dashboard:switch_tenant"), {"tenant": tenant})
    return client


def _nav(html: str) -> str:
    return html[html.index('<nav class="navbar') : html.index("</nav>")]


def test_a_missing_page_is_a_404_inside_the_shell(tenants):
    user = role_user("ann", memberships={"acme": "viewer", "globex": "viewer"})
    response = _client(user).get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'aria-label="Main"' in html and 'id="tenant-switch"' in html  # the shell
    assert "Page not found" in html and "another tenant" in html  # why
    assert f'href="{reverse("dashboard:overview")}"' in html  # the way out
    assert "/no/such/page/" not in html.split("</nav>", 1)[1].split('name="next"')[0]


def test_an_unknown_task_id_is_the_same_404_page(tenants):
    user = role_user("ann", memberships={"acme": "viewer"})
    response = _client(user).get("/tasks/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_anonymous_visitors_get_the_404_page_with_a_log_in_link(db):
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and reverse("login") in html


def test_a_403_says_why_in_the_shell_and_hides_settings_from_a_viewer(tenants):
    viewer = role_user("vic", memberships={"acme": "viewer"})
    client = _client(viewer)
    response = client.get(reverse("tenants:settings"))
    html = response.content.decode()
    assert response.status_code == 403
    assert 'aria-label="Main"' in html and "Not allowed" in html
    assert "The viewer role may not admin" in html  # why
    assert "Switch to a tenant where you have the role" in html  # the way out
    overview = client.get(reverse("dashboard:overview")).content.decode()
    assert reverse("tenants:settings") not in _nav(overview)


def test_admins_see_the_settings_link(tenants):
    admin = role_user("ada", memberships={"acme": "admin"})
    overview = _client(admin).get(reverse("dashboard:overview")).content.decode()
    assert f'href="{reverse("tenants:settings")}"' in _nav(overview)


def test_settings_in_all_tenants_is_a_picker_that_leads_to_the_tenants_settings(tenants):
    olga = role_user("olga", memberships={"ops": "admin"})
    client = _client(olga)  # all tenants by default
    picker = client.get(reverse("tenants:settings"))
    html = picker.content.decode()
    assert picker.status_code == 200 and 'id="settings-picker"' in html
    # Every ordinary tenant (platform staff reach any), and ops (a member, admin).
    for slug in ("acme", "globex", "ops"):
        assert f'name="tenant" value="{slug}"' in html
    response = client.post(
        reverse("dashboard:switch_tenant"),
        {"tenant": "globex", "next": reverse("tenants:settings")},
        follow=True,
    )
    assert response.status_code == 200
    assert "Settings of Globex" in response.content.decode()
    # And as globex's settings, a key for globex (the staff member is not a member of it).
    client.post(reverse("tenants:create_key"), {"name": "from-staff", "role": "viewer"})
    assert ApiKey.objects.get(name="from-staff").tenant.slug == "globex"


def test_a_superuser_reaches_a_tenant_they_do_not_belong_to(tenants):
    root = role_user("root", superuser=True)
    client = _client(root)
    switcher = client.get(reverse("dashboard:overview")).content.decode()
    assert 'value="globex"' in switcher and 'value="acme"' in switcher
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "acme"})
    assert "Settings of Acme" in client.get(reverse("tenants:settings")).content.decode()


def test_a_platform_viewer_in_all_tenants_has_no_settings_link_and_a_clear_403(tenants):
    viewer = role_user("pv", memberships={"ops": "viewer"})
    client = _client(viewer)
    assert reverse("tenants:settings") not in _nav(
        client.get(reverse("dashboard:overview")).content.decode()
    )
    response = client.get(reverse("tenants:settings"))
    assert response.status_code == 403
    assert "you are admin of none" in response.content.decode()


def test_api_errors_stay_problem_details(tenants):
    user = role_user("ann", memberships={"acme": "admin"})
    response = _client(user).get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["status"] == 404


class _Explodes:
    """A request user that fails on any use: the 500 page must not touch it."""

    def __getattr__(self, name):
        raise AssertionError(f"the 500 page used request.user.{name}")


def test_the_500_page_renders_without_database_or_user():
    # No django_db mark: any query here fails the test.
    from config.error_pages import server_error

    request = RequestFactory().get("/runs/")
    request.user = _Explodes()
    response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "Absurd Control" in html
    assert f'href="{reverse("dashboard:overview")}"' in html
    api = server_error(RequestFactory().get("/api/v1/tasks"))
    assert api.status_code == 500 and api["Content-Type"] == "application/problem+json"


def test_the_handlers_are_installed():
    from config import urls

    assert urls.handler403 == "config.error_pages.permission_denied"
    assert urls.handler404 == "config.error_pages.page_not_found"
    assert urls.handler500 == "config.error_pages.server_error"
