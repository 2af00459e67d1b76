"""A search on params or headers values reads a bounded window of tasks a page
(absurd_core/queries/task_list.py): pages hold the matches inside their window, say how
far back they read, and ``next_cursor`` walks window by window to every match exactly
once; "Newer" steps back the same way; indexed terms lift the window; and another
tenant's tasks neither fill a tenant's window nor show in it."""

import uuid

import pytest

from absurd_core import engine
from absurd_core import spawn as spawn_task
from absurd_core.queries.task_list import (
    TaskFilter,
    decode_cursor,
    list_tasks,
    uuid7_time,
)
from absurd_core.queries.task_selection import newer_cursor
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tenants.models import Tenant

WINDOW = 4


@pytest.fixture
def world(db, settings, queue_name):
    settings.ABSURD_SEARCH_WINDOW = WINDOW
    acme = Tenant.objects.create(slug=f"acme{uuid.uuid4().hex[:8]}", name="Acme").slug
    other = Tenant.objects.create(slug=f"other{uuid.uuid4().hex[:8]}", name="Other").slug

    def spawn(hit: bool, tenant: str = acme, queue: str = queue_name, key=None):
        params = {"customer": "c42" if hit else "c7", "region": "eu"}
        return spawn_task("job", params, tenant=tenant, queue=queue, idempotency_key=key).task_id

    # Oldest first: 11 tasks, the matches at positions 0, 1, 5 and 9.
    ids = [spawn(n in (0, 1, 5, 9), key=f"k{n}") for n in range(11)]
    return {"acme": acme, "other": other, "queue": queue_name, "ids": ids, "spawn": spawn}


def walk(scope, filters, limit=50):
    """Every page of ``filters`` by next_cursor: (items, window_edge, cursor it opened)."""
    pages, cursor = [], None
    for _ in range(20):
        page = list_tasks(scope, filters, cursor=cursor, limit=limit)
        pages.append((page.items, page.window_edge, cursor))
        if page.next_cursor is None:
            return pages, page
        cursor = page.next_cursor
    raise AssertionError("the walk did not end")


def ids_of(items):
    return [item.task_id for item in items]


def test_pages_hold_their_windows_matches_and_the_walk_finds_every_match_once(world):
    scope = TenantScope(world["acme"])
    ids = world["ids"]
    pages, last = walk(scope, TaskFilter(queues=(world["queue"],), search="customer:c42"))
    # Windows of 4, newest first: tasks 10-7 (match 9), 6-3 (match 5), 2-0 (matches 1, 0).
    assert [ids_of(items) for items, _, _ in pages] == [[ids[9]], [ids[5]], [ids[1], ids[0]]]
    # A short page says how far back it read: the spawn time of its window's oldest task.
    assert pages[0][1] == uuid7_time(ids[7])
    assert pages[1][1] == uuid7_time(ids[3])
    # The last window reached the oldest task: nothing older to search, no edge.
    assert pages[2][1] is None and last.next_cursor is None
    # Each "search older" cursor is the edge of the window before: no task read twice.
    assert decode_cursor(pages[1][2]) == ids[7] and decode_cursor(pages[2][2]) == ids[3]


def test_a_page_filled_inside_its_window_pages_as_before(world):
    scope = TenantScope(world["acme"])
    page = list_tasks(scope, TaskFilter(queues=(world["queue"],), search="region:eu"), limit=2)
    assert ids_of(page.items) == [world["ids"][10], world["ids"][9]]
    assert page.window_edge is None
    assert decode_cursor(page.next_cursor) == world["ids"][9]


def test_a_window_can_be_empty_and_still_lead_on(world):
    scope = TenantScope(world["acme"])
    for _ in range(WINDOW):
        world["spawn"](False)
    page = list_tasks(scope, TaskFilter(queues=(world["queue"],), search="customer:c42"))
    assert page.items == [] and page.window_edge is not None
    older = list_tasks(
        scope, TaskFilter(queues=(world["queue"],), search="customer:c42"), cursor=page.next_cursor
    )
    assert ids_of(older.items) == [world["ids"][9]]


def test_the_window_counts_only_tasks_the_other_filters_keep(world):
    # Cancelled tasks are outside state=pending: they do not use up the window.
    for task_id in world["ids"][2:9]:
        engine.cancel_task(world["queue"], task_id)
    filters = TaskFilter(queues=(world["queue"],), states=("pending",), search="customer:c42")
    page = list_tasks(TenantScope(world["acme"]), filters)
    # Pending: 10, 9, 1, 0 fill the window of 4, and 9, 1, 0 match.
    assert ids_of(page.items) == [world["ids"][9], world["ids"][1], world["ids"][0]]
    assert page.next_cursor is None


@pytest.mark.parametrize("term", ["id", "key"])
def test_an_indexed_term_lifts_the_window(world, term):
    oldest = world["ids"][0]
    search = f"customer:c42 {oldest}" if term == "id" else "customer:c42 k0"
    page = list_tasks(TenantScope(world["acme"]), TaskFilter(search=search))
    assert ids_of(page.items) == [oldest]
    assert page.window_edge is None and page.next_cursor is None


def test_another_tenants_tasks_neither_fill_a_tenants_window_nor_show_in_it(world):
    # Another tenant floods the queue with newer tasks that match the same value.
    for _ in range(3 * WINDOW):
        world["spawn"](True, tenant=world["other"])
    scope = TenantScope(world["acme"])
    page = list_tasks(scope, TaskFilter(queues=(world["queue"],), search="customer:c42"))
    # Acme's first window is still acme's 4 newest tasks: the flood does not push them out.
    assert ids_of(page.items) == [world["ids"][9]]
    assert page.window_edge == uuid7_time(world["ids"][7])
    # And the other tenant's window holds only its own tasks.
    theirs = list_tasks(TenantScope(world["other"]), TaskFilter(search="customer:c42"))
    assert len(theirs.items) == WINDOW
    assert {item.tenant for item in theirs.items} == {world["other"]}


def test_the_window_spans_queues_in_spawn_order(world, make_queue):
    second = make_queue()
    newer = [world["spawn"](n == 1, queue=second) for n in range(3)]
    filters = TaskFilter(queues=(world["queue"], second), search="customer:c42")
    pages, _ = walk(TenantScope(world["acme"]), filters)
    # Window 1: second's 3 tasks and the first queue's newest (10); then 9-6, 5-2, 1-0.
    assert [ids_of(items) for items, _, _ in pages] == [
        [newer[1]],
        [world["ids"][9]],
        [world["ids"][5]],
        [world["ids"][1], world["ids"][0]],
    ]


def test_newer_steps_back_one_window_at_a_time(world):
    scope = TenantScope(world["acme"])
    filters = TaskFilter(queues=(world["queue"],), search="customer:c42")
    pages, _ = walk(scope, filters)
    # From the third window, "Newer" opens the second; from the second, the first page.
    third_cursor, second_cursor = pages[2][2], pages[1][2]
    back = newer_cursor(scope, filters, third_cursor, limit=50)
    assert back.exists
    assert ids_of(list_tasks(scope, filters, cursor=back.cursor).items) == [world["ids"][5]]
    back = newer_cursor(scope, filters, second_cursor, limit=50)
    assert back.exists and back.cursor is None


def test_newer_inside_a_window_with_more_than_a_page_of_matches_is_exact(world):
    scope = TenantScope(ALL_TENANTS)
    filters = TaskFilter(queues=(world["queue"],), search="region:eu")
    first = list_tasks(scope, filters, limit=2)
    second = list_tasks(scope, filters, cursor=first.next_cursor, limit=2)
    back = newer_cursor(scope, filters, first.next_cursor, limit=2)
    assert back.exists and back.cursor is None
    back = newer_cursor(scope, filters, second.next_cursor, limit=2)
    assert ids_of(list_tasks(scope, filters, cursor=back.cursor, limit=2).items) == ids_of(
        second.items
    )


def test_a_tenant_sharing_a_long_prefix_only_narrows_the_window(db, settings, queue_name):
    # Tenant headers of any length: the window is bounded by the index's 256-character
    # prefix, so a twin's tasks count towards it; they are never shown.
    settings.ABSURD_SEARCH_WINDOW = 2
    tenant, twin = "t" * 300, "t" * 300 + "x"

    def spawn(who):
        headers = {"tenant": who}
        return engine.spawn_task(queue_name, "job", {"customer": "c42"}, headers=headers).task_id

    mine = spawn(tenant)
    for _ in range(3):
        spawn(twin)
    pages, _ = walk(TenantScope(tenant), TaskFilter(queues=(queue_name,), search="customer:c42"))
    assert [task_id for items, _, _ in pages for task_id in ids_of(items)] == [mine]
    assert len(pages) == 2  # the twin's three newer tasks filled the first window
