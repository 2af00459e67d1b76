"""The Queues page for partitioned queues: created from the form in either storage mode;
a partitioned queue's badge for everyone, its partitions and retention for platform staff,
its retention controls for platform admins, each change audited."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from absurd_core import engine
from absurd_core.models import OperatorAction
from absurd_core.queries.partitions import partition_info
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboard:queues")


@pytest.fixture
def tenants():
    return (
        Tenant.objects.create(slug="acme", name="Acme"),
        Tenant.objects.create(slug="ops", name="Ops", is_platform=True),
    )


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def platform_admin(role_user, tenants):
    return _client(role_user("pam", tenants[1], "admin"))


@pytest.fixture
def platform_viewer(role_user, tenants):
    return _client(role_user("pvi", tenants[1], "viewer"))


@pytest.fixture
def viewer(role_user, tenants):
    return _client(role_user("vic", tenants[0], "viewer"))


def _section(html, queue):
    """What the page shows of the queue: its row in the queues table, its partitions (below
    the table, for platform staff) and its manage section (platform admins)."""
    q = re.escape(queue)
    patterns = (
        rf'<tr id="queue-{q}".*?</tr>',
        rf'<section class="mt-2 mb-2" id="partitions-{q}".*?</section>',
        rf'<section [^>]*id="manage-{q}".*?</section>',
    )
    found = [m.group(0) for p in patterns for m in re.finditer(p, html, re.S)]
    assert found, f"no row for {queue}"
    return "\n".join(found)


def test_create_a_partitioned_queue_from_the_form(platform_admin):
    response = platform_admin.post(
        reverse("dashboard:create_queue"), {"name": "big", "storage_mode": "partitioned"}
    )
    assert response.status_code == 302
    assert engine.get_queue_policy("big").storage_mode == "partitioned"
    html = platform_admin.get(PAGE).content.decode()
    card = _section(html, "big")
    assert 'data-badge="partitioned"' in card
    assert "data-partitions" in card
    weeks = partition_info("big").weeks
    assert card.count("data-partition=") == len(weeks) > 4  # every week, and the default
    assert 'data-partition="default"' in card
    assert "partitions are never dropped" in card


def test_the_form_defaults_to_unpartitioned_and_refuses_other_modes(platform_admin):
    platform_admin.post(reverse("dashboard:create_queue"), {"name": "plain"})
    assert engine.get_queue_policy("plain").storage_mode == "unpartitioned"
    card = _section(platform_admin.get(PAGE).content.decode(), "plain")
    assert 'data-badge="partitioned"' not in card and "data-partitions" not in card
    response = platform_admin.post(
        reverse("dashboard:create_queue"), {"name": "weird", "storage_mode": "sharded"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not engine.queue_exists("weird")


def test_partition_sizes_are_for_platform_staff_only(platform_viewer, viewer, tenants):
    engine.create_queue("big", storage_mode="partitioned")
    staff = _section(platform_viewer.get(PAGE).content.decode(), "big")
    assert "data-partitions" in staff and "Drop old partitions" not in staff
    tenant_view = _section(viewer.get(PAGE).content.decode(), "big")
    assert 'data-badge="partitioned"' in tenant_view  # the mode is not a secret
    assert "data-partitions" not in tenant_view and "data-bytes" not in tenant_view


def test_retention_policy_and_dropping_old_partitions(platform_admin):
    engine.create_queue("big", storage_mode="partitioned")
    engine.set_queue_policy("big", {"partition_lookback": "60 days"})
    engine.fetch_all("select absurd.ensure_partitions(%s)", ("big",), "default")
    weeks = len(partition_info("big").weeks)

    response = platform_admin.post(reverse("dashboard:queue_drop_partitions", args=["big"]))
    assert response.status_code == 302
    assert len(partition_info("big").weeks) == weeks  # detach mode none: nothing goes

    bad = platform_admin.post(
        reverse("dashboard:queue_detach_policy", args=["big"]),
        {"detach_mode": "empty", "min_age_days": "0"},
    )
    assert bad.status_code == 400 and engine.get_queue_policy("big").detach_mode == "none"
    ok = platform_admin.post(
        reverse("dashboard:queue_detach_policy", args=["big"]),
        {"detach_mode": "empty", "min_age_days": "14"},
    )
    assert ok.status_code == 302
    policy = engine.get_queue_policy("big")
    assert (policy.detach_mode, policy.detach_min_age) == ("empty", timedelta(days=14))
    card = _section(platform_admin.get(PAGE).content.decode(), "big")
    assert "older than 14 d are detached and dropped whole" in card

    platform_admin.post(reverse("dashboard:queue_drop_partitions", args=["big"]))
    left = partition_info("big").weeks
    assert 0 < len(left) < weeks
    audit = OperatorAction.objects.filter(queue="big").order_by("id")
    assert [a.action for a in audit] == [
        "drop_old_partitions",
        "update_partition_policy",
        "drop_old_partitions",
    ]
    assert audit[2].detail["dropped"]


def test_retention_needs_a_platform_admin_and_a_partitioned_queue(viewer, platform_viewer):
    engine.create_queue("big", storage_mode="partitioned")
    engine.create_queue("flat")
    for client in (viewer, platform_viewer):
        for url in ("queue_drop_partitions", "queue_detach_policy"):
            response = client.post(
                reverse(f"dashboard:{url}", args=["big"]),
                {"detach_mode": "empty", "min_age_days": "1"},
            )
            assert response.status_code == 403
    assert engine.get_queue_policy("big").detach_mode == "none"
    assert not OperatorAction.objects.exists()


def test_unknown_unpartitioned_and_hostile_names_are_404(platform_admin):
    engine.create_queue("flat")
    for name in ("flat", "nope", "a; drop table x", "t_big_607"):
        for url in ("queue_drop_partitions", "queue_detach_policy"):
            response = platform_admin.post(
                reverse(f"dashboard:{url}", args=[name]),
                {"detach_mode": "empty", "min_age_days": "1"},
            )
            assert response.status_code == 404, (name, url)
    assert engine.get_queue_policy("flat").detach_mode == "none"
    assert not OperatorAction.objects.exists()
