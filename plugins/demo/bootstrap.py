"""Idempotent demo set-up: a tenant, an admin, the demo queue and a few workflows."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction

from absurd_core import engine, spawn

DEMO_TENANT = "demo"
DEMO_QUEUE = "demo"
ADMIN_USERNAME = "admin"

#: (task name, params, idempotency key): spawned once, whatever the number of runs.
DEMO_WORKFLOWS = [
    ("demo.two_steps", {"i": 1}, "bootstrap:two_steps:1"),
    ("demo.two_steps", {"i": 2}, "bootstrap:two_steps:2"),
    ("demo.flaky", {"fail_times": 2}, "bootstrap:flaky"),
    ("demo.wait_event", {"event": "demo.go"}, "bootstrap:wait_event"),
    (
        "demo.expense_approval",
        {"amount": 42.5, "requester": "ann@example.com"},
        "bootstrap:expense",
    ),
    ("demo.fan_out", {"n": 20}, "bootstrap:fan_out"),
]


@dataclass(frozen=True)
class BootstrapResult:
    tenant: Any  # tenants.models.Tenant
    username: str
    #: The generated password when the admin was created now; None when it existed.
    password: str | None
    spawned: int


def bootstrap_demo() -> BootstrapResult:
    with transaction.atomic():
        # Through the app registry: a built-in plugin imports facades only.
        Tenant = apps.get_model("tenants", "Tenant")
        Membership = apps.get_model("tenants", "Membership")
        tenant, _ = Tenant.objects.get_or_create(slug=DEMO_TENANT, defaults={"name": "Demo tenant"})
        User = get_user_model()
        password = None
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(
                ADMIN_USERNAME, email="admin@example.com", password=password
            )
        Membership.objects.get_or_create(
            user=user, tenant=tenant, defaults={"role": Membership.Role.ADMIN}
        )
    engine.create_queue(DEMO_QUEUE)
    spawned = 0
    for task_name, params, key in DEMO_WORKFLOWS:
        result = spawn(task_name, params, tenant=tenant.slug, idempotency_key=key)
        spawned += int(result.created)
    return BootstrapResult(
        tenant=tenant, username=ADMIN_USERNAME, password=password, spawned=spawned
    )
