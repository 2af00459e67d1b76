"""The events page: emitted events with payloads and the tasks they woke, tenant-scoped.

Transactional: an emit and the wake-ups it causes are one transaction of their
own, as in production (the page finds waiters by the emit's transaction id).
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from absurd_core import engine
from absurd_core.emitting import emit_for_tenant
from absurd_core.models import TaskEvent
from absurd_core.queries.events import PAYLOAD_PREVIEW, EventFilter, list_events
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tenants.models import Tenant
from tests.helpers import raw_connection

PAGE = reverse("dashboard:events")


def waiting_task(conn, queue, tenant, event):
    """A task asleep in ``await_event`` for ``event``, through the engine's functions."""
    (task_id,) = conn.execute(
        "select task_id from absurd.spawn_task(%s, 'test.wait_event', '{}'::jsonb, %s::jsonb)",
        (queue, json.dumps({"headers": {"tenant": tenant}})),
    ).fetchone()
    (run_id,) = conn.execute(
        "select run_id from absurd.claim_task(%s, 'w', 60, 50) where task_id = %s",
        (queue, task_id),
    ).fetchone()
    conn.execute(
        "select * from absurd.await_event(%s, %s, %s, 'wait', %s, null)",
        (queue, task_id, run_id, event),
    )
    return task_id


@pytest.fixture
def world(transactional_db):
    queue = f"ev_{uuid.uuid4().hex[:10]}"
    engine.create_queue(queue)
    acme = Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="globex", name="Globex")
    with raw_connection() as conn:
        tasks = {
            "acme_order": waiting_task(conn, queue, "acme", "tenant:acme:order-1"),
            "globex_shared": waiting_task(conn, queue, "globex", "shared"),
            "acme_shared": waiting_task(conn, queue, "acme", "shared"),
            "globex_order": waiting_task(conn, queue, "globex", "tenant:globex:order-1"),
        }
    emit_for_tenant(TenantScope("acme"), queue, "order-1", {"total": 12})
    emit_for_tenant(TenantScope("globex"), queue, "order-1", {"total": 99})
    with raw_connection() as conn:
        conn.execute("select absurd.emit_event(%s, 'shared', '{\"k\": 1}'::jsonb)", (queue,))
        conn.execute("select absurd.emit_event(%s, 'lonely', '\"x\"'::jsonb)", (queue,))
    yield {"queue": queue, "acme": acme, "tasks": tasks}
    engine.drop_queue(queue)


@pytest.fixture
def acme_viewer(role_user, client, world):
    client.force_login(role_user("vi", world["acme"]))
    return client


@pytest.fixture
def platform(role_user, client, world):
    client.force_login(role_user("root", is_superuser=True, is_staff=True))
    return client


def names(page):
    return [event.name for event in page.items]


def shown_names(html):
    return [part.split("</h2>", 1)[0].rsplit(">", 1)[1] for part in html.split("<h2")[1:]][:-1]


def card(html, name):
    start = html.index(f">{name}</h2>")
    return html[start : html.index("</article>", start)]


def test_tenant_sees_its_namespace_and_events_that_woke_its_tasks(world):
    page = list_events(TenantScope("acme"), EventFilter())
    assert names(page) == ["shared", "tenant:acme:order-1"]
    shared, order = page.items
    assert [w.task_id for w in order.waiters] == [world["tasks"]["acme_order"]]
    # Of the tasks "shared" woke, only acme's own.
    assert shared.waiter_count == 1
    assert [w.task_id for w in shared.waiters] == [world["tasks"]["acme_shared"]]
    assert json.loads(order.payload) == {"total": 12}


def test_all_tenants_see_every_event_and_every_waiter(world):
    page = list_events(TenantScope(ALL_TENANTS), EventFilter())
    assert names(page) == ["lonely", "shared", "tenant:globex:order-1", "tenant:acme:order-1"]
    lonely, shared = page.items[:2]
    assert lonely.waiter_count == 0 and lonely.payload == '"x"'
    assert {w.task_id for w in shared.waiters} == {
        world["tasks"]["acme_shared"],
        world["tasks"]["globex_shared"],
    }


def test_page_shows_payloads_and_links_waiters(acme_viewer, world):
    response = acme_viewer.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "tenant:globex" not in html and ">lonely<" not in html
    order = card(html, "tenant:acme:order-1")
    assert "&quot;total&quot;: 12" in order
    assert reverse("dashboard:task", args=[world["tasks"]["acme_order"]]) in order
    assert 'data-waiters="1"' in order
    shared = card(html, "shared")
    assert str(world["tasks"]["globex_shared"]) not in shared


def test_platform_page_shows_everything(platform, world):
    html = platform.get(PAGE).content.decode()
    assert ">lonely<" in html and ">tenant:globex:order-1<" in html
    assert 'data-waiters="2"' in card(html, "shared")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "order"}, ["tenant:acme:order-1"]),  # the tenant's own names, unprefixed
        ({"name": "order-1", "match": "exact"}, ["tenant:acme:order-1"]),
        ({"name": "order", "match": "exact"}, []),
        ({"name": "tenant:acme:", "match": "prefix"}, ["tenant:acme:order-1"]),
        ({"name": "tenant:globex:"}, []),
        ({"name": "sha"}, ["shared"]),
        ({"name": "%"}, []),  # LIKE wildcards are taken literally
    ],
)
def test_name_filter_for_a_tenant(acme_viewer, world, params, expected):
    html = acme_viewer.get(PAGE, params).content.decode()
    assert shown_names(html) == expected


def test_name_filter_for_all_tenants(world):
    scope = TenantScope(ALL_TENANTS)
    assert len(list_events(scope, EventFilter(name="tenant:")).items) == 2
    assert names(list_events(scope, EventFilter(name="lonely", exact=True))) == ["lonely"]


def test_queue_and_time_filters(world):
    scope = TenantScope(ALL_TENANTS)
    assert len(list_events(scope, EventFilter(queue=world["queue"])).items) == 4
    assert list_events(scope, EventFilter(queue="elsewhere")).items == []
    later = timezone.now() + timedelta(minutes=5)
    assert list_events(scope, EventFilter(emitted_after=later)).items == []
    assert len(list_events(scope, EventFilter(emitted_before=later)).items) == 4
    earlier = timezone.now() - timedelta(hours=1)
    assert list_events(scope, EventFilter(emitted_before=earlier)).items == []


def test_time_range_in_the_page(platform, world):
    later = (timezone.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    html = platform.get(PAGE, {"after": later}).content.decode()
    assert 'id="ev-empty"' in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"queue": "nope'; drop table absurd.queues; --"}, "No queue named"),
        ({"after": "yesterday"}, "Enter a valid date/time"),
        ({"after": "2030-01-02T00:00", "before_time": "2030-01-01T00:00"}, "ends before it starts"),
        ({"before": "x"}, "page cursor"),
        ({"name": "n" * 201}, "at most 200 characters"),
        ({"match": "regex"}, "Select a valid choice"),
    ],
)
def test_bad_filters_are_a_400_shown_inline(platform, world, params, message):
    response = platform.get(PAGE, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_keyset_pages_newest_first(world):
    scope = TenantScope(ALL_TENANTS)
    seen, before = [], None
    while True:
        page = list_events(scope, EventFilter(), before=before, limit=1)
        seen.extend(names(page))
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == ["lonely", "shared", "tenant:globex:order-1", "tenant:acme:order-1"]


def test_older_link_in_the_page(platform, world, monkeypatch):
    import absurd_core.queries.events as queries

    original = queries.list_events
    monkeypatch.setattr(
        "dashboard.pages.events.list_events",
        lambda scope, flt, before=None: original(scope, flt, before=before, limit=2),
    )
    html = platform.get(PAGE).content.decode()
    older = html.split('rel="next"', 1)[0].rsplit('href="?', 1)[1].split('"', 1)[0]
    second = platform.get(PAGE + "?" + older.replace("&amp;", "&")).content.decode()
    assert ">tenant:acme:order-1<" in second and ">lonely<" not in second
    assert "Newest" in second


def test_huge_payload_is_cut(world):
    with raw_connection() as conn:
        conn.execute(
            "select absurd.emit_event(%s, 'big', %s::jsonb)",
            (world["queue"], json.dumps({"blob": "z" * 10_000})),
        )
    (big,) = list_events(TenantScope(ALL_TENANTS), EventFilter(name="big", exact=True)).items
    assert big.truncated and len(big.payload) == PAYLOAD_PREVIEW
    assert big.payload_bytes > 10_000


def test_event_log_gives_emits_no_tenant(world):
    """absurd_core.queries.events reads emits as ``tenant is null`` (the index it relies on)."""
    emitted = TaskEvent.objects.filter(queue=world["queue"], kind="event_emitted")
    assert emitted.count() == 4
    assert not emitted.exclude(tenant=None).exists()


def test_login_required_and_get_only(role_user, client, world):
    assert client.get(PAGE).status_code == 302
    client.force_login(role_user("vi2", world["acme"]))
    assert client.post(PAGE).status_code == 405
