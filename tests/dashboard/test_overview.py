"""The overview page and its htmx partial, tenant-scoped."""

import pytest
from django.urls import reverse

from absurd_core import engine, spawn
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants_with_tasks():
    engine.create_queue("demo")
    for i in range(3):
        spawn("demo.two_steps", {"i": i}, tenant="acme")
    spawn("demo.two_steps", {"i": 9}, tenant="globex")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    return acme, globex


def _pending_cell(html: str, queue: str) -> str:
    row = html.split(f'data-queue="{queue}"', 1)[1].split("</tr>", 1)[0]
    cell = row.split('data-state="pending"', 1)[1].split("</td>", 1)[0]
    return cell.rsplit("</a>", 1)[0].rsplit(">", 1)[1]  # the count is a link to its runs


def test_login_required(client):
    response = client.get(reverse("dashboard:overview"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_member_sees_only_their_tenants_counts(role_user, client, tenants_with_tasks):
    acme, _ = tenants_with_tasks
    client.force_login(role_user("ann", acme))
    response = client.get(reverse("dashboard:overview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 2s' in html
    assert _pending_cell(html, "demo") == "3"
    assert "Tenant <strong>acme</strong>" in html


def test_superuser_sees_all_tenants(role_user, client, tenants_with_tasks):
    client.force_login(role_user("root", is_superuser=True, is_staff=True))
    html = client.get(reverse("dashboard:overview")).content.decode()
    assert _pending_cell(html, "demo") == "4"
    assert "All tenants" in html


def test_platform_member_sees_all_tenants(role_user, client, tenants_with_tasks):
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    client.force_login(role_user("op", platform))
    html = client.get(reverse("dashboard:overview")).content.decode()
    assert _pending_cell(html, "demo") == "4"


def test_user_without_membership_is_told_why(role_user, client, tenants_with_tasks):
    client.force_login(role_user("nobody"))
    response = client.get(reverse("dashboard:overview"))
    html = response.content.decode()
    assert "not a member of any tenant" in html
    assert 'data-queue="demo"' not in html


def test_partial_renders_the_table_only(role_user, client, tenants_with_tasks):
    acme, _ = tenants_with_tasks
    client.force_login(role_user("ann", acme))
    response = client.get(reverse("dashboard:queue_table"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert _pending_cell(html, "demo") == "3"
