"""POST /api/v1/queues: create a queue in either of upstream's storage modes; bad input is
a problem (422, 409, 403) and creates nothing."""

import pytest

from absurd_core import engine
from absurd_core.models import OperatorAction
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(db):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    return {
        "admin": issue_key(acme, "a", role="admin").key,
        "platform": issue_key(platform, "p", role="admin").key,
        "platform_viewer": issue_key(platform, "pv", role="viewer").key,
    }


@pytest.mark.parametrize("mode", ["partitioned", "unpartitioned"])
def test_create_in_each_storage_mode(keys, mode):
    response = api("post", "/queues", keys["platform"], {"name": f"q_{mode}", "storage_mode": mode})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == f"q_{mode}" and body["storage_mode"] == mode
    assert engine.get_queue_policy(f"q_{mode}").storage_mode == mode
    assert api("get", f"/queues/q_{mode}", keys["platform"]).json()["storage_mode"] == mode
    audit = OperatorAction.objects.get(action="create_queue", queue=f"q_{mode}")
    assert audit.detail == (
        {"via": "api", "storage_mode": mode} if mode == "partitioned" else {"via": "api"}
    )


def test_storage_mode_defaults_to_unpartitioned(keys):
    assert api("post", "/queues", keys["platform"], {"name": "plain"}).json()["storage_mode"] == (
        "unpartitioned"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bad1", "storage_mode": "sharded"},
        {"name": "bad2", "storage_mode": "Partitioned"},
        {"name": "bad3", "storage_mode": None},
        {"name": "bad4", "storage_mode": 1},
        {"name": "bad5", "storage_mode": "partitioned", "cleanup": True},
        {"name": "-bad", "storage_mode": "partitioned"},
        {"name": "x" * 80, "storage_mode": "partitioned"},
        {"storage_mode": "partitioned"},
    ],
)
def test_bad_input_is_422_and_creates_nothing(keys, body):
    before = engine.list_queues()
    response = api("post", "/queues", keys["platform"], body)
    assert response.status_code == 422, response.content
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert engine.list_queues() == before
    assert not OperatorAction.objects.filter(action="create_queue").exists()


def test_an_existing_name_is_409_whatever_the_mode(keys):
    api("post", "/queues", keys["platform"], {"name": "taken", "storage_mode": "partitioned"})
    for mode in ("partitioned", "unpartitioned"):
        response = api("post", "/queues", keys["platform"], {"name": "taken", "storage_mode": mode})
        assert response.status_code == 409
    assert engine.get_queue_policy("taken").storage_mode == "partitioned"
    assert OperatorAction.objects.filter(action="create_queue").count() == 1


@pytest.mark.parametrize("who", ["admin", "platform_viewer"])
def test_only_a_platform_admin_creates_queues(keys, who):
    body = {"name": "mine", "storage_mode": "partitioned"}
    assert api("post", "/queues", keys[who], body).status_code == 403
    assert api("post", "/queues", None, body).status_code == 401
    assert not engine.queue_exists("mine")
