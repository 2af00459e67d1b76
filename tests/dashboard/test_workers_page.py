"""The workers page: the registry with live/dead/stopped badges, counters for platform staff."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from absurd_core.models import Worker
from dashboard.presenters import ago
from tenants.models import Membership, Tenant

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboard:workers")


def _worker(worker_id, *, seen_ago=1, stopped=False, **extra):
    now = timezone.now()
    defaults = dict(host="box", pid=1, queues=["default", "mail"], concurrency=4,
                    in_flight=2, processed=120, failed=7)  # fmt: skip
    defaults.update(extra)
    return Worker.objects.create(
        worker_id=worker_id,
        started_at=now - timedelta(hours=1),
        last_seen=now - timedelta(seconds=seen_ago),
        stopped_at=now if stopped else None,
        **defaults,
    )


@pytest.fixture
def workers(db):
    Worker.objects.all().delete()
    return [
        _worker("w-live"),
        _worker("w-dead", seen_ago=120),
        _worker("w-stopped", seen_ago=300, stopped=True),
    ]


@pytest.fixture
def acme(db):
    return Tenant.objects.create(slug="acme", name="Acme")


def _row(html, worker_id):
    return html.split(f'data-worker="{worker_id}"', 1)[1].split("</tr>", 1)[0]


def test_login_required(client, workers):
    assert client.get(PAGE).status_code == 302


def test_tenant_member_sees_workers_without_counters(role_user, client, workers, acme):
    client.force_login(role_user("vi", acme))
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "w-live" in html and "w-dead" in html and 'data-worker="w-stopped"' not in html
    assert ">live<" in _row(html, "w-live") and ">dead<" in _row(html, "w-dead")
    assert "data-counter" not in html and "In flight" not in html and "Failed" not in html
    assert "platform staff only" in html
    row = _row(html, "w-live")
    assert '<code class="me-1">mail</code>' in row and ">4</td>" in row
    assert "s ago" in row


def test_platform_staff_see_counters(role_user, client, workers):
    client.force_login(role_user("root", is_superuser=True, is_staff=True))
    html = client.get(PAGE).content.decode()
    row = _row(html, "w-live")
    assert 'data-counter="in_flight">2<' in row
    assert 'data-counter="processed">120<' in row
    assert 'data-counter="failed">7<' in row


def test_platform_member_sees_counters_only_while_acting_as_the_platform(
    role_user, client, workers, acme
):
    # The counters are platform data: a platform member acting as acme is acme's member only
    # (docs/tenants.md, Roles); acting as the platform tenant, they see them.
    ops = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    user = role_user("op", ops)
    Membership.objects.create(user=user, tenant=acme, role="viewer")
    client.force_login(user)
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "acme"})
    html = client.get(PAGE).content.decode()
    assert "data-counter" not in html and "platform staff only" in html
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "ops"})
    html = client.get(PAGE).content.decode()
    assert 'data-counter="failed">7<' in _row(html, "w-live")


def test_show_stopped_toggle(role_user, client, workers, acme):
    client.force_login(role_user("vi", acme))
    html = client.get(PAGE, {"stopped": "1"}).content.decode()
    assert ">stopped<" in _row(html, "w-stopped")
    assert 'id="show-stopped"' in html and "checked" in html.split('id="show-stopped"', 1)[1][:200]
    assert f'hx-get="{PAGE}?stopped=1"' in html


def test_polls_every_two_seconds_while_visible(role_user, client, workers, acme):
    client.force_login(role_user("vi", acme))
    html = client.get(PAGE).content.decode()
    assert 'hx-trigger="every 2s, visibilitychange from:document" data-poll-visible' in html


def test_htmx_poll_renders_the_table_only(role_user, client, workers, acme):
    client.force_login(role_user("vi", acme))
    response = client.get(PAGE, headers={"HX-Request": "true", "HX-Target": "workers-table"})
    html = response.content.decode()
    assert "<html" not in html and 'id="workers"' in html


def test_no_workers(role_user, client, acme):
    Worker.objects.all().delete()
    client.force_login(role_user("vi", acme))
    assert 'id="no-workers"' in client.get(PAGE).content.decode()


def test_user_without_tenant_gets_403(role_user, client, workers):
    client.force_login(role_user("nobody"))
    assert client.get(PAGE).status_code == 403


def test_post_is_405(role_user, client, workers, acme):
    client.force_login(role_user("vi", acme))
    assert client.post(PAGE).status_code == 405


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s ago"),
        (59, "59 s ago"),
        (60, "1 min ago"),
        (7200, "2 h ago"),
        (-3, "0 s ago"),
        (3 * 86400, "3 d ago"),
    ],
)
def test_relative_time(seconds, text):
    assert ago(seconds) == text


def test_external_workers_are_listed_from_the_runs_they_hold(
    role_user, client, workers, acme, queue_name
):
    """A worker that is not ours (absurd-sdk in TypeScript, say) holding claims on a queue."""
    from absurd_core import engine

    engine.spawn_task(queue_name, "billing.charge", {}, headers={"tenant": "acme"})
    with connection.cursor() as cursor:
        cursor.execute("select * from absurd.claim_task(%s, 'ts-worker-9', 60, 1)", [queue_name])
    client.force_login(role_user("ann", acme))
    html = client.get(PAGE).content.decode()
    row = _row(html, "ts-worker-9")
    assert 'data-kind="external"' in html.split('data-worker="ts-worker-9"', 1)[1][:60]
    assert "data-external>external<" in row and "pause and max_running do not bind it" in row
    assert queue_name in row and "—" in row  # no concurrency to show
    assert 'data-kind="external"' not in _row(html, "w-live")


def test_a_worker_link_lands_on_its_row(role_user, client, workers, acme):
    """dashboard.links.worker_url points at ``#worker-<id>``: the row carries that id."""
    from dashboard.links import worker_url

    client.force_login(role_user("wl", acme))
    html = client.get(PAGE).content.decode()
    fragment = worker_url("w-live").split("#", 1)[1]
    assert f'<tr id="{fragment}" data-worker="w-live"' in html


def test_start_times_are_relative_with_the_absolute_time_on_hover(role_user, client, workers):
    client.force_login(role_user(superuser=True))
    row = _row(client.get(PAGE).content.decode(), "w-live")
    assert re.search(r"started <time [^>]*title=\"[^\"]+\"[^>]*data-reltime>1 h ago</time>", row)
