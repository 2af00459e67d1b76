"""Role users for the dashboard's tests: one helper instead of a copy per test file.

``role_user(username=None, tenant=None, role="viewer", **extra)`` creates a user (a
fresh name when none is given), a member of ``tenant`` with ``role`` when a tenant is
given; ``extra`` goes to ``create_user`` (``is_superuser=True, is_staff=True`` for
platform staff). Log it in with ``client.force_login(role_user(...))``.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from tenants.models import Membership

PASSWORD = "pw-12345-long"


@pytest.fixture
def role_user():
    def make(username: str | None = None, tenant=None, role: str = "viewer", **extra):
        username = username or f"u{uuid.uuid4().hex[:8]}"
        user = get_user_model().objects.create_user(username, password=PASSWORD, **extra)
        if tenant:
            Membership.objects.create(user=user, tenant=tenant, role=role)
        return user

    return make
