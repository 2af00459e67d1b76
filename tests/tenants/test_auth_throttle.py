"""Failed authentications are rate-limited per source, for API keys and the login form."""

import pytest
from django.contrib.auth import get_user_model

from tenants.api_keys import issue_key
from tenants.auth_throttle import FAILURE_BURST
from tenants.models import Tenant

pytestmark = pytest.mark.django_db
BURST = int(FAILURE_BURST)


def test_api_key_guessing_is_throttled_per_address(client):
    good = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ci").key
    url = "/api/v1/plugins/demo/tasks"
    for _ in range(BURST):
        bad = client.get(
            url, headers={"Authorization": "Bearer ac_guess_x"}, REMOTE_ADDR="10.0.0.9"
        )
        assert bad.status_code == 401
    blocked = client.get(url, headers={"Authorization": f"Bearer {good}"}, REMOTE_ADDR="10.0.0.9")
    assert blocked.status_code == 429  # even the right key waits: nothing is checked
    assert "Too many failed authentications" in blocked.json()["detail"]
    assert 1 <= int(blocked["Retry-After"]) <= 5  # one failure allowed every 5 s
    other = client.get(url, headers={"Authorization": f"Bearer {good}"}, REMOTE_ADDR="10.0.0.10")
    assert other.status_code == 200  # other addresses are not affected


def test_password_guessing_is_throttled_per_address(client):
    get_user_model().objects.create_user("ann", password="the-right-password-1")
    for _ in range(BURST):
        response = client.post(
            "/login/", {"username": "ann", "password": "wrong"}, REMOTE_ADDR="10.0.0.7"
        )
        assert response.status_code == 200 and "correct username" in response.content.decode()
    blocked = client.post(
        "/login/", {"username": "ann", "password": "the-right-password-1"}, REMOTE_ADDR="10.0.0.7"
    )
    assert blocked.status_code == 429
    assert "Too many failed log-ins" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    ok = client.post(
        "/login/", {"username": "ann", "password": "the-right-password-1"}, REMOTE_ADDR="10.0.0.8"
    )
    assert ok.status_code == 302
