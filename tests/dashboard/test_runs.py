"""The runs page: filters, search, keyset pages, tenancy, and bulk cancel / retry."""

import dataclasses
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from psycopg import sql

from absurd_core import engine
from absurd_core import spawn as spawn_task
from absurd_core.actions import bulk_tasks
from absurd_core.models import OperatorAction
from absurd_core.queries.task_list import TaskFilter, encode_cursor, list_tasks
from absurd_core.queries.task_selection import NewerPage, count_by_state, newer_cursor, tasks_by_id
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from dashboard import presenters
from tenants.models import Tenant
from tenants.permissions import Principal

pytestmark = pytest.mark.django_db

RUNS = reverse("dashboard:runs")
BULK = reverse("dashboard:runs_bulk")


@pytest.fixture
def world(queue_name):
    # Slugs unique per test: transactional tests elsewhere leave engine rows behind.
    suffix = uuid.uuid4().hex[:8]
    acme = Tenant.objects.create(slug=f"acme{suffix}", name="Acme")
    globex = Tenant.objects.create(slug=f"globex{suffix}", name="Globex")

    def spawn(name="job", params=None, tenant=acme.slug, key=None, max_attempts=None):
        return spawn_task(
            name,
            params or {},
            tenant=tenant,
            queue=queue_name,
            idempotency_key=key,
            max_attempts=max_attempts,
        ).task_id

    return {"queue": queue_name, "acme": acme, "globex": globex, "spawn": spawn}


def _claim(queue):
    with connection.cursor() as cursor:
        cursor.execute("select run_id, task_id from absurd.claim_task(%s, 'test', 60, 1)", [queue])
        return cursor.fetchone()


def _fail(queue, run_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select absurd.fail_run(%s, %s, %s::jsonb, null)",
            [queue, run_id, '{"name": "ValueError", "message": "boom"}'],
        )


def _sleep(queue, run_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select absurd.schedule_run(%s, %s, absurd.current_time() + interval '1 hour')",
            [queue, run_id],
        )


def failed_task(world, **kwargs):
    """A task that failed for good (claimed before anything else is pending)."""
    task_id = world["spawn"](max_attempts=1, **kwargs)
    run_id, claimed = _claim(world["queue"])
    assert claimed == task_id
    _fail(world["queue"], run_id)
    return task_id


def sleeping_task(world, **kwargs):
    task_id = world["spawn"](**kwargs)
    run_id, claimed = _claim(world["queue"])
    assert claimed == task_id
    _sleep(world["queue"], run_id)
    return task_id


def _ids(response):
    html = response.content.decode()
    return [chunk.split('"', 1)[0] for chunk in html.split('<tr data-task="')[1:]]


def _get(client, **params):
    return client.get(RUNS, params)


# -- the list --------------------------------------------------------------------------------


def test_login_required(client):
    response = client.get(RUNS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_lists_the_tenants_tasks_newest_first_with_links(role_user, client, world):
    ids = [world["spawn"](params={"n": n}) for n in range(3)]
    theirs = world["spawn"](tenant=world["globex"].slug)
    client.force_login(role_user(tenant=world["acme"]))
    response = _get(client, queue=world["queue"])
    assert response.status_code == 200
    assert _ids(response) == [str(i) for i in reversed(ids)]
    html = response.content.decode()
    assert str(theirs) not in html
    assert reverse("dashboard:task", args=[ids[0]]) in html
    assert "data-search" in html
    assert 'hx-trigger="every 2s" data-poll-visible' in html
    assert 'id="live-toggle"' in html and "Pause live updates" in html


def test_filters_by_state_task_name_and_several_states(role_user, client, world):
    failed = failed_task(world)
    sleeping = sleeping_task(world, name="napper")
    pending = world["spawn"](name="other")
    client.force_login(role_user(tenant=world["acme"]))
    q = world["queue"]
    assert _ids(_get(client, queue=q, state="failed")) == [str(failed)]
    both = _get(client, queue=q, state=["failed", "pending"])
    assert _ids(both) == [str(pending), str(failed)]
    assert _ids(_get(client, queue=q, task="napper")) == [str(sleeping)]


def test_time_range_presets_and_custom_range(role_user, client, world):
    old = world["spawn"]()
    with connection.cursor() as cursor:  # a task id from two days ago: ids are UUIDv7
        two_days_ago = timezone.now() - timedelta(days=2)
        fake = uuid.UUID(
            int=(int(two_days_ago.timestamp() * 1000) << 80) | (old.int & ((1 << 80) - 1))
        )
        table = sql.Identifier(f"t_{world['queue']}")
        update = sql.SQL("update absurd.{} set task_id = %s where task_id = %s").format(table)
        cursor.execute(update.as_string(cursor.connection), [fake, old])
    new = world["spawn"]()
    client.force_login(role_user(tenant=world["acme"]))
    q = world["queue"]
    assert _ids(_get(client, queue=q, range="15m")) == [str(new)]
    assert _ids(_get(client, queue=q, range="7d")) == [str(new), str(fake)]
    since = (two_days_ago - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (two_days_ago + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    custom = _get(client, queue=q, range="custom", **{"from": since, "to": until})
    assert _ids(custom) == [str(fake)]


def test_search_by_id_key_and_params(role_user, client, world):
    target = world["spawn"](params={"customer": {"id": "42"}}, key="order-9")
    world["spawn"](params={"customer": {"id": "7"}})
    client.force_login(role_user(tenant=world["acme"]))
    q = world["queue"]
    assert _ids(_get(client, queue=q, q=str(target))) == [str(target)]
    assert _ids(_get(client, queue=q, q="order-9")) == [str(target)]
    assert _ids(_get(client, queue=q, q="params.customer.id:42")) == [str(target)]
    assert _ids(_get(client, queue=q, q="headers.tenant:nobody")) == []
    html = _get(client, queue=q, q="nothing-like-it").content.decode()
    assert "No tasks match this filter." in html
    assert "Search syntax" in html


def test_a_params_search_says_how_far_back_it_read_and_searches_older(
    role_user, client, world, settings
):
    settings.ABSURD_SEARCH_WINDOW = 3
    match = world["spawn"](params={"customer": "c42"})
    for _ in range(3):
        world["spawn"](params={"customer": "c7"})
    client.force_login(role_user(tenant=world["acme"]))
    html = _get(client, queue=world["queue"], q="customer:c42").content.decode()
    # The newest window of 3 holds no match: an empty page that says so and leads on.
    assert _ids(_get(client, queue=world["queue"], q="customer:c42")) == []
    assert "among the 3 tasks this page searched" in html
    assert 'id="search-window"' in html and "searched back to tasks spawned" in html
    assert ">Search older" in html
    href = html.split('id="older" href="?', 1)[1].split('"', 1)[0]
    older = client.get(f"{RUNS}?{href.replace('&amp;', '&')}")
    assert _ids(older) == [str(match)]
    assert 'id="search-window"' not in older.content.decode()  # read to the oldest task
    # An indexed search is not windowed: the id finds the old task on the first page.
    assert _ids(_get(client, queue=world["queue"], q=str(match))) == [str(match)]


def test_keyset_pages_older_and_newer(role_user, client, world, monkeypatch):
    monkeypatch.setattr("dashboard.pages.runs.PAGE_SIZE", 2)
    ids = [str(world["spawn"](params={"n": n})) for n in range(5)]
    newest_first = list(reversed(ids))
    client.force_login(role_user(tenant=world["acme"]))
    response = _get(client, queue=world["queue"])
    seen = [_ids(response)]
    while 'id="older"' in response.content.decode():
        href = response.content.decode().split('id="older" href="?', 1)[1].split('"', 1)[0]
        assert "offset" not in href and "page=" not in href
        response = client.get(f"{RUNS}?{href.replace('&amp;', '&')}")
        seen.append(_ids(response))
    assert seen == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    # Back from the last page: "Newer" opens the middle page again.
    href = response.content.decode().split('id="newer" href="?', 1)[1].split('"', 1)[0]
    assert _ids(client.get(f"{RUNS}?{href.replace('&amp;', '&')}")) == newest_first[2:4]


def test_newer_cursor_function_walks_back_to_the_first_page(world):
    ids = [world["spawn"](params={"n": n}) for n in range(5)]
    scope, filters = TenantScope(world["acme"].slug), TaskFilter(queues=(world["queue"],))
    first = list_tasks(scope, filters, limit=2)
    second = list_tasks(scope, filters, cursor=first.next_cursor, limit=2)
    third = list_tasks(scope, filters, cursor=second.next_cursor, limit=2)
    assert [t.task_id for t in third.items] == [ids[0]]
    back = newer_cursor(scope, filters, second.next_cursor, limit=2)
    assert back.exists and back.cursor == first.next_cursor
    assert newer_cursor(scope, filters, first.next_cursor, limit=2).cursor is None
    top = encode_cursor(uuid.UUID(int=(1 << 128) - 1))  # nothing is newer than this
    assert newer_cursor(scope, filters, top, limit=2) == NewerPage(False, None)


def test_poll_fragment_keeps_filters_and_page(role_user, client, world):
    ids = [str(world["spawn"](params={"n": n})) for n in range(3)]
    client.force_login(role_user(tenant=world["acme"]))
    page = _get(client, queue=world["queue"], state="pending").content.decode()
    poll_url = page.split('id="runs-rows"', 1)[1].split('hx-get="', 1)[1].split('"', 1)[0]
    assert f"queue={world['queue']}" in poll_url and "state=pending" in poll_url
    response = client.get(
        f"{RUNS}{poll_url.replace('&amp;', '&')}",
        headers={"HX-Request": "true", "HX-Target": "runs-rows"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<table" not in html
    assert _ids(response) == list(reversed(ids))


def test_a_poll_whose_queue_was_dropped_stops_polling(role_user, client, world):
    client.force_login(role_user(tenant=world["acme"]))
    response = client.get(
        RUNS,
        {"queue": "dropped-meanwhile"},
        headers={"HX-Request": "true", "HX-Target": "runs-rows"},
    )
    assert response.status_code == 286  # htmx: stop polling
    assert "No queue named &#x27;dropped-meanwhile&#x27;." in response.content.decode()


def test_responses_vary_on_the_htmx_headers(role_user, client, world):
    client.force_login(role_user(tenant=world["acme"]))
    vary = _get(client, queue=world["queue"])["Vary"]
    assert "HX-Request" in vary and "HX-Target" in vary


def test_paused_live_updates_do_not_poll(role_user, client, world):
    client.force_login(role_user(tenant=world["acme"]))
    html = _get(client, queue=world["queue"], paused="1").content.decode()
    assert "every 2s" not in html
    assert "Resume live updates" in html
    assert 'aria-pressed="false"' in html


def test_filter_submit_by_htmx_answers_with_the_page_fragment(role_user, client, world):
    client.force_login(role_user(tenant=world["acme"]))
    response = client.get(
        RUNS,
        {"queue": world["queue"], "task": "", "q": ""},
        headers={"HX-Request": "true", "HX-Target": "runs-page"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="runs-page">') and "<html" not in html
    assert response["HX-Push-Url"] == f"{RUNS}?queue={world['queue']}"


# -- tenancy ---------------------------------------------------------------------------------


def test_tenant_member_cannot_widen_scope_with_a_tenant_parameter(role_user, client, world):
    mine = world["spawn"]()
    theirs = world["spawn"](tenant=world["globex"].slug)
    client.force_login(role_user(tenant=world["acme"]))
    response = _get(client, queue=world["queue"], tenant=world["globex"].slug)
    assert _ids(response) == [str(mine)]
    assert str(theirs) not in response.content.decode()
    assert _ids(_get(client, queue=world["queue"], q=str(theirs))) == []


def test_platform_staff_see_all_tenants_and_may_narrow_to_one(role_user, client, world):
    mine = world["spawn"]()
    theirs = world["spawn"](tenant=world["globex"].slug)
    client.force_login(role_user(is_superuser=True, is_staff=True))
    everything = _get(client, queue=world["queue"])
    assert _ids(everything) == [str(theirs), str(mine)]
    assert "All tenants" in everything.content.decode()
    narrowed = _get(client, queue=world["queue"], tenant=world["globex"].slug)
    assert _ids(narrowed) == [str(theirs)]


def test_unknown_tenant_filter_is_an_inline_error(role_user, client, world):
    client.force_login(role_user(is_superuser=True, is_staff=True))
    response = _get(client, tenant="no-such-tenant")
    assert response.status_code == 400
    assert "No tenant named &#x27;no-such-tenant&#x27;." in response.content.decode()


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"queue": "nope"}, "No queue named &#x27;nope&#x27;."),
        ({"queue": '"; drop table x; --'}, "No queue named"),
        ({"state": "exploded"}, "Select a valid choice"),
        ({"cursor": "not-a-cursor"}, "That page link is not valid"),
        ({"range": "forever"}, "Select a valid choice"),
        ({"range": "custom"}, "Give a start, an end or both"),
        ({"range": "custom", "from": "2026-01-02T00:00", "to": "2026-01-01T00:00"},
         "The end must be after the start."),
        ({"from": "yesterday-ish"}, "Enter a valid date/time."),
    ],
)  # fmt: skip
def test_bad_filter_values_are_inline_errors(role_user, client, world, params, message):
    client.force_login(role_user(tenant=world["acme"]))
    response = _get(client, **params)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert 'id="runs-filter"' in html  # the form is still there, with the message by it
    assert "every 2s" not in html  # nothing polls a broken filter


# -- bulk actions ----------------------------------------------------------------------------


def _bulk(client, bulk, *, confirm=False, tasks=(), **filters):
    data = {"bulk": bulk, "selected": [str(t) for t in tasks], **filters}
    if confirm:
        data["confirm"] = "yes"
    return client.post(BULK, data)


def test_viewers_see_no_bulk_controls_and_get_403(role_user, client, world):
    task_id = world["spawn"]()
    client.force_login(role_user(tenant=world["acme"], role="viewer"))
    html = _get(client, queue=world["queue"]).content.decode()
    assert 'name="bulk"' not in html and 'name="selected"' not in html
    response = _bulk(client, "cancel:selected", confirm=True, tasks=[task_id])
    assert response.status_code == 403
    assert engine.get_task_result(world["queue"], task_id).state == "pending"
    assert not OperatorAction.objects.filter(task_id=task_id).exists()


def test_operators_see_bulk_controls_with_accessible_labels(role_user, client, world):
    task_id = world["spawn"](name="labelled")
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    html = _get(client, queue=world["queue"]).content.decode()
    assert 'aria-label="Select all tasks on this page"' in html
    assert f'aria-label="Select labelled {task_id}"' in html
    for value in ("retry:selected", "cancel:selected", "retry:matching", "cancel:matching"):
        assert f'value="{value}"' in html


def test_get_on_the_bulk_url_is_405(role_user, client, world):
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    assert client.get(BULK).status_code == 405


def test_bulk_cancel_selection_confirms_then_applies_with_audit(role_user, client, world):
    ended = failed_task(world)
    pending = world["spawn"]()
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    confirm = _bulk(client, "cancel:selected", tasks=[pending, ended], queue=world["queue"])
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Cancel 2 selected tasks?" in html
    assert "1 is pending, running or sleeping and will be cancelled" in html
    assert engine.get_task_result(world["queue"], pending).state == "pending"  # not yet

    applied = _bulk(
        client, "cancel:selected", confirm=True, tasks=[pending, ended], queue=world["queue"]
    )
    assert applied.status_code == 302
    assert applied["Location"] == f"{RUNS}?queue={world['queue']}"
    assert engine.get_task_result(world["queue"], pending).state == "cancelled"
    assert engine.get_task_result(world["queue"], ended).state == "failed"
    audit = OperatorAction.objects.get(task_id=pending)
    assert (audit.action, audit.detail, audit.tenant) == (
        "cancel",
        {"bulk": True},
        world["acme"].slug,
    )
    assert audit.actor.startswith("user:")
    assert not OperatorAction.objects.filter(task_id=ended).exists()
    followed = client.get(applied["Location"]).content.decode()
    assert "Cancelled 1 task; 1 had already ended." in followed


def test_bulk_retry_selection_retries_failed_only(role_user, client, world):
    failed = failed_task(world)
    pending = world["spawn"]()
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    response = _bulk(client, "retry:selected", confirm=True, tasks=[failed, pending])
    assert response.status_code == 302
    assert engine.get_task_result(world["queue"], failed).state == "pending"
    assert OperatorAction.objects.get(task_id=failed).action == "retry"
    assert not OperatorAction.objects.filter(task_id=pending).exists()
    assert "Retried 1 task; 1 had not failed." in client.get(response["Location"]).content.decode()


def test_bulk_cancel_all_matching_counts_then_applies_over_many_pages(
    role_user, client, world, monkeypatch
):
    monkeypatch.setattr(bulk_tasks, "BATCH", 3)  # several keyset pages
    sleepers = [sleeping_task(world, name="nap") for _ in range(2)]
    pendings = [world["spawn"](name="nap") for _ in range(6)]
    other = world["spawn"](name="other")
    theirs = world["spawn"](name="nap", tenant=world["globex"].slug)
    engine.cancel_task(world["queue"], pendings[0])  # already ended: skipped
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    filters = {"queue": world["queue"], "task": "nap"}
    confirm = _bulk(client, "cancel:matching", **filters)
    html = confirm.content.decode()
    assert f"Cancel 8 tasks matching: <code>queue={world['queue']} task=nap</code>?" in html
    assert "7 are pending, running or sleeping and will be cancelled; 1 has already ended" in html
    as_of = html.split('name="as_of" value="', 1)[1].split('"', 1)[0]

    late = world["spawn"](name="nap")  # spawned after the confirmation: left alone
    response = client.post(BULK, {"bulk": "cancel:matching", "confirm": "yes", "as_of": as_of,
                                  **filters})  # fmt: skip
    assert response.status_code == 302
    for task_id in [*sleepers, *pendings]:
        assert engine.get_task_result(world["queue"], task_id).state == "cancelled"
    for task_id in (other, theirs, late):
        assert engine.get_task_result(world["queue"], task_id).state == "pending"
    audited = set(OperatorAction.objects.filter(action="cancel").values_list("task_id", flat=True))
    assert audited == {*sleepers, *pendings[1:]}
    assert (
        "Cancelled 7 tasks; 1 had already ended."
        in client.get(response["Location"]).content.decode()
    )


def test_bulk_retry_all_matching_with_a_state_filter(role_user, client, world):
    failed = [failed_task(world) for _ in range(2)]
    world["spawn"]()
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    confirm = _bulk(client, "retry:matching", queue=world["queue"], state="failed").content.decode()
    assert f"Retry 2 tasks matching: <code>queue={world['queue']} state=failed</code>?" in confirm
    response = _bulk(client, "retry:matching", confirm=True, queue=world["queue"], state="failed")
    assert response.status_code == 302
    assert {engine.get_task_result(world["queue"], t).state for t in failed} == {"pending"}
    assert OperatorAction.objects.filter(action="retry", task_id__in=failed).count() == 2


def test_bulk_on_another_tenants_task_is_404_and_changes_nothing(role_user, client, world):
    mine = world["spawn"]()
    theirs = world["spawn"](tenant=world["globex"].slug)
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    response = _bulk(client, "cancel:selected", confirm=True, tasks=[mine, theirs])
    assert response.status_code == 404
    assert "Nothing was changed." in response.content.decode()
    for task_id in (mine, theirs):
        assert engine.get_task_result(world["queue"], task_id).state == "pending"
    assert not OperatorAction.objects.filter(task_id__in=[mine, theirs]).exists()


def test_platform_staff_bulk_all_matching_narrowed_to_one_tenant(role_user, client, world):
    mine = world["spawn"]()
    theirs = world["spawn"](tenant=world["globex"].slug)
    platform = Tenant.objects.create(
        slug=f"ops{uuid.uuid4().hex[:6]}", name="Ops", is_platform=True
    )
    client.force_login(role_user(tenant=platform, role="operator"))
    filters = {"queue": world["queue"], "tenant": world["globex"].slug}
    response = _bulk(client, "cancel:matching", confirm=True, **filters)
    assert response.status_code == 302
    assert engine.get_task_result(world["queue"], theirs).state == "cancelled"
    assert engine.get_task_result(world["queue"], mine).state == "pending"
    audit = OperatorAction.objects.get(task_id=theirs)
    assert audit.tenant == world["globex"].slug  # the task's tenant, not "all"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"bulk": "delete:selected"}, 400, "Choose cancel or retry"),
        ({"bulk": "cancel:selected"}, 400, "Select at least one task."),
        ({"bulk": "cancel:selected", "selected": "not-a-uuid"}, 400, "is not a task id"),
        ({"bulk": "cancel:selected", "selected": str(uuid.uuid4())}, 404, "No task"),
        ({"bulk": "cancel:matching", "queue": "nope"}, 400, "No queue named"),
        ({"bulk": "cancel:matching", "as_of": "whenever", "confirm": "yes"}, 400, "not valid"),
        (
            {"bulk": "cancel:matching", "as_of": "2999-01-01T00:00:00+00:00", "confirm": "yes"},
            400,
            "not valid",
        ),
        (
            {"bulk": "cancel:matching", "as_of": "2026-01-01T00:00:00", "confirm": "yes"},
            400,
            "not valid",
        ),
    ],
)
def test_bad_bulk_input_is_a_clear_error(role_user, client, world, data, status, message):
    task_id = world["spawn"]()
    client.force_login(role_user(tenant=world["acme"], role="operator"))
    response = client.post(BULK, data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert engine.get_task_result(world["queue"], task_id).state == "pending"


def test_bulk_functions_directly(world):
    """The module is usable without the view: counts, selection scope and outcome text."""
    failed = failed_task(world)
    pending = world["spawn"]()
    theirs = world["spawn"](tenant=world["globex"].slug)
    acme = TenantScope(world["acme"].slug)
    filters = TaskFilter(queues=(world["queue"],))
    assert count_by_state(acme, filters) | {} == {**dict.fromkeys(engine.TASK_STATES, 0),
                                                   "failed": 1, "pending": 1}  # fmt: skip
    assert count_by_state(TenantScope(ALL_TENANTS), filters)["pending"] == 2
    assert {t.task_id for t in tasks_by_id(acme, [failed, pending, theirs])} == {failed, pending}
    operator = Principal(acme, "operator", "user:op")
    outcome = bulk_tasks.apply_to_matching(operator, "retry", acme, filters)
    assert (outcome.applied, outcome.skipped, outcome.missing) == (1, 1, 0)
    assert presenters.bulk_outcome_toast(outcome) == (
        "success",
        "Retried 1 task; 1 had not failed.",
    )
    viewer = Principal(acme, "viewer", "user:v")
    with pytest.raises(Exception, match="may not operate"):
        bulk_tasks.apply_to_matching(viewer, "cancel", acme, filters)
    assert presenters.bulk_outcome_text(bulk_tasks.BulkOutcome("cancel", 1230, 4)) == (
        "Cancelled 1,230 tasks; 4 had already ended."
    )


def _complete(queue, run_id):
    with connection.cursor() as cursor:
        cursor.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [queue, run_id])


def test_tasks_that_changed_since_the_listing_are_counted_not_acted_on(world):
    """Rows listed as pending / failed whose task has changed by the time the action runs."""
    scope = TenantScope(world["acme"].slug)
    operator = Principal(scope, "operator", "user:op")
    finished = world["spawn"]()
    listed = tasks_by_id(scope, [finished])  # listed while pending ...
    run_id, _ = _claim(world["queue"])
    _complete(world["queue"], run_id)  # ... completed before the cancel
    gone = dataclasses.replace(listed[0], task_id=uuid.uuid4())  # removed meanwhile
    outcome = bulk_tasks.apply(operator, "cancel", [*listed, gone])
    assert (outcome.applied, outcome.skipped, outcome.missing) == (0, 1, 1)
    assert engine.get_task_result(world["queue"], finished).state == "completed"

    failed = failed_task(world)
    listed = tasks_by_id(scope, [failed])  # listed while failed ...
    engine.retry_task(world["queue"], failed)  # ... retried by someone else first
    outcome = bulk_tasks.apply(operator, "retry", listed)
    assert (outcome.applied, outcome.skipped, outcome.missing) == (0, 1, 0)
    assert not OperatorAction.objects.filter(task_id__in=[finished, failed]).exists()
