"""Dead workers: hidden after the retention period, removable by a platform admin only
(dashboard and API), audited; a live one is never removed."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from absurd_core.models import OperatorAction, Worker
from absurd_core.queries.workers import workers_for
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tenants.api_keys import issue_key
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboard:workers")
REMOVE = reverse("dashboard:remove_worker")


def _worker(worker_id, *, seen_ago, stopped=False):
    now = timezone.now()
    return Worker.objects.create(
        worker_id=worker_id, host="box", pid=1, queues=["default"], concurrency=2,
        started_at=now - timedelta(days=3), last_seen=now - timedelta(seconds=seen_ago),
        stopped_at=now - timedelta(seconds=seen_ago) if stopped else None,
        in_flight=3, processed=10,
    )  # fmt: skip


@pytest.fixture
def fleet(db):
    Worker.objects.all().delete()
    return {
        "live": _worker("w-live", seen_ago=1),
        "dead": _worker("w-dead", seen_ago=60),
        "old": _worker("w-old", seen_ago=2 * 3600),
        "stopped_old": _worker("w-stopped-old", seen_ago=2 * 3600, stopped=True),
        "stopped": _worker("w-stopped", seen_ago=120, stopped=True),
    }


@pytest.fixture
def tenants(db):
    return {
        "acme": Tenant.objects.create(slug="acme", name="Acme"),
        "ops": Tenant.objects.create(slug="ops", name="Ops", is_platform=True),
    }


PLATFORM = TenantScope(ALL_TENANTS)


def _ids(**kwargs):
    return {w.worker_id for w in workers_for(PLATFORM, **kwargs) if not w.external}


def test_retention_hides_workers_silent_for_longer(fleet, settings):
    settings.ABSURD_DEAD_WORKER_RETENTION = 3600
    assert _ids() == {"w-live", "w-dead"}
    assert _ids(include_stopped=True) == {"w-live", "w-dead", "w-stopped"}
    settings.ABSURD_DEAD_WORKER_RETENTION = 3 * 3600
    assert _ids() == {"w-live", "w-dead", "w-old"}
    # Never shorter than three heartbeats: a live worker is never hidden.
    settings.ABSURD_DEAD_WORKER_RETENTION = 0
    assert _ids() == {"w-live"}


def test_default_retention_is_a_day(fleet):
    Worker.objects.filter(worker_id="w-old").update(last_seen=timezone.now() - timedelta(hours=25))
    Worker.objects.filter(worker_id="w-stopped-old").update(
        last_seen=timezone.now() - timedelta(hours=23)
    )
    assert _ids(include_stopped=True) == {"w-live", "w-dead", "w-stopped", "w-stopped-old"}


def test_dead_worker_in_flight_comes_from_the_engine_not_its_last_heartbeat(fleet):
    views = {w.worker_id: w for w in workers_for(TenantScope(ALL_TENANTS))}
    assert views["w-live"].in_flight == 3  # alive: its heartbeat
    assert views["w-dead"].in_flight == 0  # dead, and the engine has it hold nothing


def test_page_states_the_retention(role_user, client, fleet, settings):
    settings.ABSURD_DEAD_WORKER_RETENTION = 7200
    client.force_login(role_user(superuser=True))
    html = client.get(PAGE).content.decode()
    assert "hidden 2 h after they were last seen" in html
    assert 'data-worker="w-old"' not in html


def test_platform_admin_removes_a_dead_worker_audited(role_user, client, fleet):
    client.force_login(role_user("root", superuser=True))
    html = client.get(PAGE).content.decode()
    live_row = html.split('data-worker="w-live"', 1)[1].split("</tr>", 1)[0]
    dead_row = html.split('data-worker="w-dead"', 1)[1].split("</tr>", 1)[0]
    assert "data-remove-worker" in dead_row and "data-remove-worker" not in live_row
    response = client.post(REMOVE, {"worker_id": "w-dead"}, follow=True)
    assert response.status_code == 200
    assert "Removed worker w-dead from the list." in response.content.decode()
    assert not Worker.objects.filter(worker_id="w-dead").exists()
    (audit,) = OperatorAction.objects.filter(action="remove_worker")
    assert audit.actor == "user:root" and audit.detail["worker_id"] == "w-dead"
    assert audit.detail["status"] == "dead"


def test_a_live_worker_is_not_removed(role_user, client, fleet):
    client.force_login(role_user(superuser=True))
    response = client.post(REMOVE, {"worker_id": "w-live"}, follow=True)
    assert "is alive" in response.content.decode()
    assert Worker.objects.filter(worker_id="w-live").exists()
    assert not OperatorAction.objects.filter(action="remove_worker").exists()


def test_unknown_worker_is_a_404(role_user, client, fleet):
    client.force_login(role_user(superuser=True))
    assert client.post(REMOVE, {"worker_id": "w-nope"}).status_code == 404
    assert client.post(REMOVE, {}).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_tenant_members_may_not_remove_workers(role_user, client, fleet, tenants, role):
    client.force_login(role_user(tenant=tenants["acme"], role=role))
    html = client.get(PAGE).content.decode()
    assert "data-remove-worker" not in html
    assert client.post(REMOVE, {"worker_id": "w-dead"}).status_code == 403
    assert Worker.objects.filter(worker_id="w-dead").exists()
    assert not OperatorAction.objects.filter(action="remove_worker").exists()


def test_platform_operator_may_not_remove(role_user, client, fleet, tenants):
    client.force_login(role_user(tenant=tenants["ops"], role="operator"))
    assert client.post(REMOVE, {"worker_id": "w-dead"}).status_code == 403
    assert Worker.objects.filter(worker_id="w-dead").exists()


def test_platform_admin_member_removes_a_stopped_worker(role_user, client, fleet, tenants):
    client.force_login(role_user(tenant=tenants["ops"], role="admin"))
    response = client.post(REMOVE, {"worker_id": "w-stopped", "stopped": "1"})
    assert response.status_code == 302 and response["Location"].endswith("?stopped=1")
    assert not Worker.objects.filter(worker_id="w-stopped").exists()


# -- the API ----------------------------------------------------------------------------


def _delete(key, worker_id):
    return Client().delete(f"/api/v1/workers/{worker_id}", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_api_delete_by_a_platform_admin_key(fleet, tenants):
    key = issue_key(tenants["ops"], "p", role="admin").key
    response = _delete(key, "w-dead")
    assert response.status_code == 200
    assert response.json() == {"worker_id": "w-dead", "removed": True}
    assert not Worker.objects.filter(worker_id="w-dead").exists()
    (audit,) = OperatorAction.objects.filter(action="remove_worker")
    assert audit.detail["via"] == "api"
    again = _delete(key, "w-dead")
    assert again.status_code == 404
    assert again["Content-Type"].startswith("application/problem+json")


def test_api_delete_of_a_live_worker_is_a_409(fleet, tenants):
    key = issue_key(tenants["ops"], "p", role="admin").key
    response = _delete(key, "w-live")
    assert response.status_code == 409
    assert "alive" in response.json()["detail"]
    assert Worker.objects.filter(worker_id="w-live").exists()


@pytest.mark.parametrize(
    ("tenant", "role", "scopes"),
    [("acme", "admin", None), ("ops", "operator", None), ("ops", "admin", ["tasks:read"])],
)
def test_api_delete_refused_for_other_keys(fleet, tenants, tenant, role, scopes):
    key = issue_key(tenants[tenant], "k", role=role, scopes=scopes).key
    response = _delete(key, "w-dead")
    assert response.status_code == 403
    assert Worker.objects.filter(worker_id="w-dead").exists()
    assert not OperatorAction.objects.filter(action="remove_worker").exists()
