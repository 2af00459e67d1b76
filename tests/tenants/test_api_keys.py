"""API keys: issued once, stored as a hash, checked on every API call, revocable."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tenants.api_keys import issue_key, revoke_key, verify_key
from tenants.models import ApiKey, Tenant
from tests.helpers import manage

pytestmark = pytest.mark.django_db

URL = "/api/v1/plugins/demo/tasks"


@pytest.fixture
def tenant():
    return Tenant.objects.create(slug="acme", name="Acme")


def _get(client, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(URL, headers=headers)


def test_a_valid_key_authenticates_and_is_marked_used(client, tenant):
    issued = issue_key(tenant, "ci")
    response = _get(client, issued.key)
    assert response.status_code == 200
    issued.api_key.refresh_from_db()
    assert issued.api_key.last_used_at is not None


def test_the_secret_is_stored_only_as_a_hash(tenant):
    issued = issue_key(tenant, "ci")
    row = ApiKey.objects.filter(pk=issued.api_key.pk).values().get()
    secret = issued.key.split("_", 2)[2]
    assert not any(secret in str(value) for value in row.values())
    assert len(row["secret_hash"]) == 64


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda key: None, "Unauthorized"),
        (lambda key: key[:-2] + "xx", "Unknown API key."),
        (lambda key: "ac_nosuchprefix_" + "a" * 40, "Unknown API key."),
        (lambda key: "not-a-key", "Malformed API key."),
    ],
)
def test_missing_wrong_and_malformed_keys_get_401(client, tenant, mutate, message):
    issued = issue_key(tenant, "ci")
    response = _get(client, mutate(issued.key))
    assert response.status_code == 401
    assert response.json()["detail"] == message


def test_revoked_key_gets_401_at_once(client, tenant):
    issued = issue_key(tenant, "ci")
    assert revoke_key(issued.api_key) is True
    assert revoke_key(issued.api_key) is False  # already revoked: nothing changes
    response = _get(client, issued.key)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API key was revoked."


def test_expired_key_gets_401(client, tenant):
    issued = issue_key(tenant, "ci", expires_at=timezone.now() - timedelta(seconds=1))
    response = _get(client, issued.key)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API key has expired."


def test_inactive_tenant_key_gets_401(client, tenant):
    issued = issue_key(tenant, "ci")
    Tenant.objects.filter(pk=tenant.pk).update(active=False)
    assert _get(client, issued.key).json()["detail"] == "This API key's tenant is inactive."


def test_health_and_schema_need_no_key(client):
    assert client.get("/api/v1/health").status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    assert (
        "BearerAuth" in str(schema["components"]["securitySchemes"])
        or schema["components"]["securitySchemes"]
    )


def test_verify_key_resolves_the_tenant(tenant):
    issued = issue_key(tenant, "ci", role="viewer")
    api_key = verify_key(issued.key)
    assert (api_key.tenant.slug, api_key.role) == ("acme", "viewer")


def test_create_tenant_and_create_api_key_commands(transactional_db, client):
    created = manage("create_tenant", "globex", "--name", "Globex Inc")
    assert created.returncode == 0, created.stderr
    again = manage("create_tenant", "globex")
    assert again.returncode == 0 and "already exists" in again.stdout
    result = manage("create_api_key", "--tenant", "globex", "--name", "deploy bot")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("ac_") and " " not in key
    assert _get(client, key).status_code == 200
    assert ApiKey.objects.get(name="deploy bot").tenant.name == "Globex Inc"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create_tenant", "Bad Slug!"), "lowercase letters"),
        (("create_api_key", "--tenant", "nobody", "--name", "x"), "No active tenant 'nobody'"),
        (("create_api_key", "--tenant", "acme", "--name", "x", "--role", "god"), "invalid choice"),
    ],
)
def test_command_errors_are_one_clear_line(transactional_db, args, message):
    Tenant.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
    result = manage(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_admin_shows_the_new_key_once_and_it_works(client, tenant):
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "pw-long-12345")
    client.force_login(admin)
    response = client.post(
        "/admin/tenants/apikey/add/",
        {"tenant": tenant.pk, "name": "from admin", "role": "viewer", "scopes": "[]"},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    key = next(m for m in shown if "not shown again" in m).rsplit(" ", 1)[1]
    api_key = ApiKey.objects.get(name="from admin")
    assert api_key.created_by == admin and api_key.role == "viewer"
    client.logout()
    assert _get(client, key).status_code == 200
    # The change page never shows the key again.
    client.force_login(admin)
    page = client.get(f"/admin/tenants/apikey/{api_key.pk}/change/").content.decode()
    assert key not in page
