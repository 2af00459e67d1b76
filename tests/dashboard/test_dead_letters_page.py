"""The dead letters page: groups, the list, and idempotent, audited actions, tenant-scoped."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from absurd_core import engine
from absurd_core.audit import task_timeline
from absurd_core.models import DeadLetter, OperatorAction
from absurd_core.queries.dead_letters import DeadLetterFilter, dead_letter_page, groups
from absurd_core.tenancy import TenantScope
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PAGE = reverse("dashboard:dead_letters")
BULK = reverse("dashboard:dead_letters_bulk")


def fail_task(queue, tenant, *, task_name="test.always_fail", error=("E", "boom")) -> DeadLetter:
    """A task failed terminally through the engine's own functions (the trigger files it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id from absurd.spawn_task(%s, %s, '{}'::jsonb, %s::jsonb)",
            [queue, task_name, json.dumps({"headers": {"tenant": tenant}, "max_attempts": 1})],
        )
        (task_id,) = cursor.fetchone()
        cursor.execute(
            "select run_id from absurd.claim_task(%s, 'w', 60, 50) where task_id = %s",
            [queue, task_id],
        )
        (run_id,) = cursor.fetchone()
        cursor.execute(
            "select absurd.fail_run(%s, %s, %s::jsonb, null)",
            [queue, run_id, json.dumps({"name": error[0], "message": error[1]})],
        )
    return DeadLetter.objects.get(queue=queue, task_id=task_id)


@pytest.fixture
def world(queue_name):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    boom = [fail_task(queue_name, "acme") for _ in range(3)]
    bang = fail_task(queue_name, "acme", error=("F", "bang"))
    other_task = fail_task(queue_name, "acme", task_name="test.other")
    theirs = fail_task(queue_name, "globex")
    return {
        "queue": queue_name,
        "acme": acme,
        "globex": globex,
        "boom": boom,
        "bang": bang,
        "other_task": other_task,
        "theirs": theirs,
    }


@pytest.fixture
def operator(role_user, client, world):
    client.force_login(role_user("op", world["acme"], "operator"))
    return client


@pytest.fixture
def viewer(role_user, client, world):
    client.force_login(role_user("vi", world["acme"], "viewer"))
    return client


def action_url(dead_letter, kind):
    return reverse("dashboard:dead_letter_action", args=[dead_letter.pk, kind])


def toast_of(response):
    return json.loads(response["HX-Trigger"])["toast"]


def rows(html):
    return [int(part.split('"', 1)[0]) for part in html.split('data-dead-letter="')[1:]]


# -- reading -----------------------------------------------------------------------------


def test_login_required(client, world):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_groups_count_open_dead_letters_of_the_tenant(viewer, world):
    scope = TenantScope("acme")
    found = {(g.task_name, g.error_name, g.error_message): g for g in groups(scope)}
    assert {key: g.count for key, g in found.items()} == {
        ("test.always_fail", "E", "boom"): 3,
        ("test.always_fail", "F", "bang"): 1,
        ("test.other", "E", "boom"): 1,
    }
    biggest = found[("test.always_fail", "E", "boom")]
    times = sorted(d.failed_at for d in world["boom"])
    assert (biggest.first_failed_at, biggest.last_failed_at) == (times[0], times[-1])
    # The largest group comes first; the page shows the same.
    assert groups(scope)[0] == biggest
    html = viewer.get(PAGE).content.decode()
    assert html.index("bang") > html.index("boom")
    assert "globex" not in html


def test_resolved_dead_letters_leave_the_groups(operator, world):
    operator.post(action_url(world["boom"][0], "retry"), headers=HTMX)
    counts = {(g.task_name, g.error_name): g.count for g in groups(TenantScope("acme"))}
    assert counts[("test.always_fail", "E")] == 2


def test_clicking_a_group_filters_the_list(viewer, world):
    html = viewer.get(PAGE).content.decode()
    assert sorted(rows(html)) == sorted(
        d.pk for d in [*world["boom"], world["bang"], world["other_task"]]
    )
    link = html.split('data-group="test.always_fail"', 1)[1].split('href="', 1)[1].split('"')[0]
    response = viewer.get(PAGE + link.replace("&amp;", "&"))
    assert response.status_code == 200
    listed = rows(response.content.decode())
    assert sorted(listed) == sorted(d.pk for d in world["boom"])
    assert 'aria-current="true"' in response.content.decode()


def test_list_is_newest_first_and_keyset_paged(world):
    scope, flt = TenantScope("acme"), DeadLetterFilter()
    first = dead_letter_page(scope, flt, limit=2)
    assert [d.pk for d in first.items] == [world["other_task"].pk, world["bang"].pk]
    second = dead_letter_page(scope, flt, before=first.next_before, limit=2)
    assert [d.pk for d in second.items] == [world["boom"][2].pk, world["boom"][1].pk]
    last = dead_letter_page(scope, flt, before=second.next_before, limit=2)
    assert [d.pk for d in last.items] == [world["boom"][0].pk] and last.next_before is None


def test_before_cursor_in_the_page(viewer, world):
    response = viewer.get(PAGE, {"before": world["bang"].pk})
    assert sorted(rows(response.content.decode())) == sorted(d.pk for d in world["boom"])
    assert "Newest" in response.content.decode()


def test_state_filter(operator, world):
    operator.post(action_url(world["bang"], "discard"), {"note": "known"}, headers=HTMX)
    open_rows = rows(operator.get(PAGE).content.decode())
    assert world["bang"].pk not in open_rows
    discarded = operator.get(PAGE, {"state": "discarded"}).content.decode()
    assert rows(discarded) == [world["bang"].pk]
    assert "by user:op" in discarded and "known" in discarded
    assert rows(operator.get(PAGE, {"state": "retried"}).content.decode()) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "lost"}, "Unknown state"),
        ({"queue": "x'; drop table absurd.queues; --"}, "No queue named"),
        ({"before": "-1"}, "page cursor"),
        ({"task": ""}, "needs a task name"),
    ],
)
def test_bad_filters_are_a_400_with_the_reason(viewer, world, params, message):
    response = viewer.get(PAGE, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_viewer_sees_no_actions(viewer, world):
    html = viewer.get(PAGE).content.decode()
    assert 'id="dl-bulk"' not in html and "Discard…" not in html
    assert 'name="ids"' not in html


def test_platform_sees_every_tenant(role_user, client, world):
    client.force_login(role_user("root", is_superuser=True, is_staff=True))
    listed = rows(client.get(PAGE).content.decode())
    assert world["theirs"].pk in listed and world["bang"].pk in listed


def test_rows_link_to_the_task_unless_cleaned_up(viewer, world):
    DeadLetter.objects.filter(pk=world["bang"].pk).update(task_deleted_at=timezone.now())
    html = viewer.get(PAGE).content.decode()
    row = html.split(f'data-dead-letter="{world["bang"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "task cleaned up" in row and "/tasks/" not in row
    other = html.split(f'data-dead-letter="{world["boom"][0].pk}"', 1)[1].split("</tr>", 1)[0]
    assert reverse("dashboard:task", args=[world["boom"][0].task_id]) in other


def test_htmx_reload_renders_the_content_only(viewer, world):
    response = viewer.get(PAGE, headers={**HTMX, "HX-Target": "dl-content"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="dl-groups"' in html


# -- one dead letter ---------------------------------------------------------------------


def test_retry_in_place_takes_effect_once_and_is_audited(operator, world):
    dead = world["boom"][0]
    response = operator.post(action_url(dead, "retry"), {"note": "fixed"}, headers=HTMX)
    assert response.status_code == 200
    triggers = json.loads(response["HX-Trigger"])
    assert triggers["deadLettersChanged"] == {}  # django_htmx's trigger_client_event, no params
    assert triggers["toast"]["level"] == "success"
    dead.refresh_from_db()
    assert (dead.state, dead.resolved_by, dead.note) == ("retried", "user:op", "fixed")
    assert engine.get_task_result(dead.queue, dead.task_id).state == "pending"
    (audit,) = OperatorAction.objects.filter(task_id=dead.task_id)
    assert (audit.action, audit.queue, audit.tenant, audit.actor) == (
        "retry_dead_letter",
        dead.queue,
        "acme",
        "user:op",
    )
    assert audit.detail["note"] == "fixed" and audit.detail["dead_letter"] == dead.pk
    assert audit.detail["spawn_new"] is False

    again = operator.post(action_url(dead, "retry"), headers=HTMX)
    assert again.status_code == 200
    assert toast_of(again) == {"level": "info", "text": "Already retried by user:op."}
    assert OperatorAction.objects.filter(task_id=dead.task_id).count() == 1
    timeline = task_timeline(TenantScope("acme"), dead.queue, dead.task_id)
    assert [e.kind for e in timeline if e.source == "action"] == ["retry_dead_letter"]


def test_retry_as_new_task(operator, world):
    dead = world["boom"][1]
    response = operator.post(action_url(dead, "retry_new"), headers=HTMX)
    assert toast_of(response)["level"] == "success"
    dead.refresh_from_db()
    assert dead.state == "retried"
    assert engine.get_task_result(dead.queue, dead.task_id).state == "failed"
    audit = OperatorAction.objects.get(task_id=dead.task_id)
    assert audit.detail["spawn_new"] is True
    new_id = audit.detail["retried_task_id"]
    assert new_id != str(dead.task_id) and new_id in toast_of(response)["text"]
    assert engine.get_task_result(dead.queue, new_id).state == "pending"


def test_discard_needs_a_note(operator, world):
    dead = world["bang"]
    response = operator.post(action_url(dead, "discard"), {"note": "  "}, headers=HTMX)
    assert response.status_code == 400
    assert "note is required" in response.content.decode()
    assert "note is required" in response["X-Error"]
    dead.refresh_from_db()
    assert dead.state == "open"
    assert not OperatorAction.objects.exists()


def test_discard_once_then_retry_changes_nothing(operator, world):
    dead = world["bang"]
    response = operator.post(action_url(dead, "discard"), {"note": "obsolete"}, headers=HTMX)
    assert toast_of(response)["level"] == "success"
    dead.refresh_from_db()
    assert (dead.state, dead.note) == ("discarded", "obsolete")
    audit = OperatorAction.objects.get(task_id=dead.task_id)
    assert audit.action == "discard_dead_letter" and audit.detail["note"] == "obsolete"
    again = operator.post(action_url(dead, "retry"), headers=HTMX)
    assert toast_of(again) == {"level": "info", "text": "Already discarded by user:op."}
    assert engine.get_task_result(dead.queue, dead.task_id).state == "failed"
    assert OperatorAction.objects.count() == 1


def test_retry_of_a_cleaned_up_task_is_refused(operator, world):
    dead = world["bang"]
    DeadLetter.objects.filter(pk=dead.pk).update(task_deleted_at=timezone.now())
    response = operator.post(action_url(dead, "retry"), headers=HTMX)
    assert toast_of(response)["level"] == "warning"
    assert "discard instead" in toast_of(response)["text"]
    dead.refresh_from_db()
    assert dead.state == "open"


def test_plain_post_redirects_with_a_message(operator, world):
    dead = world["bang"]
    response = operator.post(
        action_url(dead, "discard"), {"note": "x", "next": PAGE + "?state=open"}, follow=True
    )
    assert response.redirect_chain[-1][0] == PAGE + "?state=open"
    assert "Discarded dead letter" in response.content.decode()


def test_plain_post_never_redirects_off_site(operator, world):
    response = operator.post(action_url(world["bang"], "retry"), {"next": "https://evil.example/"})
    assert response["Location"] == PAGE


@pytest.mark.parametrize("target", ["nonexistent", "//evil.example/", "/dead-letters/\r\nX: 1"])
def test_plain_post_with_a_next_that_is_not_a_local_path_goes_to_the_list(operator, world, target):
    # A bare word used to be reversed as a URL name (NoReverseMatch: a 500 after the action).
    dead = world["bang"]
    response = operator.post(action_url(dead, "discard"), {"note": "x", "next": target})
    assert response.status_code == 302 and response["Location"] == PAGE
    dead.refresh_from_db()
    assert dead.state == "discarded"


def test_viewer_may_not_act(viewer, world):
    dead = world["bang"]
    for kind in ("retry", "retry_new", "discard"):
        response = viewer.post(action_url(dead, kind), {"note": "x"}, headers=HTMX)
        assert response.status_code == 403
    response = viewer.post(BULK, {"op": "retry:matching", "state": "open", "confirmed": "1"})
    assert response.status_code == 403
    dead.refresh_from_db()
    assert dead.state == "open" and not OperatorAction.objects.exists()


def test_other_tenants_dead_letter_is_a_404(operator, world):
    theirs = world["theirs"]
    for kind in ("retry", "discard"):
        response = operator.post(action_url(theirs, kind), {"note": "x"}, headers=HTMX)
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "open"


def test_get_on_action_urls_is_405(operator, world):
    for kind in ("retry", "retry_new", "discard"):
        assert operator.get(action_url(world["bang"], kind)).status_code == 405
    assert operator.get(BULK).status_code == 405


def test_unknown_action_is_a_404(operator, world):
    response = operator.post(f"{PAGE}{world['bang'].pk}/explode", headers=HTMX)
    assert response.status_code == 404


def test_csrf_is_enforced(role_user, world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(role_user("op2", world["acme"], "operator"))
    response = client.post(action_url(world["bang"], "retry"))
    assert response.status_code == 403
    world["bang"].refresh_from_db()
    assert world["bang"].state == "open"


# -- bulk --------------------------------------------------------------------------------


def test_bulk_selection_confirms_the_count_then_acts_once(operator, world):
    chosen = [world["boom"][0].pk, world["bang"].pk]
    ask = operator.post(BULK, {"op": "retry:selected", "ids": chosen}, headers=HTMX)
    assert ask.status_code == 200
    html = ask.content.decode()
    assert 'data-count="2"' in html and "Retry 2 dead letters?" in html
    assert DeadLetter.objects.filter(pk__in=chosen, state="open").count() == 2

    done = operator.post(
        BULK, {"op": "retry:selected", "ids": chosen, "confirmed": "1"}, headers=HTMX
    )
    assert toast_of(done) == {"level": "success", "text": "Retried 2 dead letters."}
    assert DeadLetter.objects.filter(pk__in=chosen, state="retried").count() == 2
    assert OperatorAction.objects.filter(action="retry_dead_letter").count() == 2

    again = operator.post(
        BULK, {"op": "retry:selected", "ids": chosen, "confirmed": "1"}, headers=HTMX
    )
    assert toast_of(again)["text"] == "Retried 0 dead letters. 2 already resolved."
    assert OperatorAction.objects.count() == 2


def test_bulk_with_another_tenants_id_changes_nothing(operator, world):
    chosen = [world["boom"][0].pk, world["theirs"].pk]
    response = operator.post(
        BULK, {"op": "retry:selected", "ids": chosen, "confirmed": "1"}, headers=HTMX
    )
    assert response.status_code == 404
    assert DeadLetter.objects.filter(state="open").count() == 6


def test_bulk_discard_of_a_group_with_its_note(operator, world):
    group = {"state": "open", "task": "test.always_fail", "error_name": "E", "error": "boom"}
    ask = operator.post(BULK, {"op": "discard:matching", **group}, headers=HTMX)
    html = ask.content.decode()
    assert 'data-count="3"' in html and "required" in html
    up_to = int(html.split('name="up_to" value="', 1)[1].split('"', 1)[0])

    no_note = operator.post(
        BULK, {"op": "discard:matching", **group, "up_to": up_to, "confirmed": "1"}, headers=HTMX
    )
    assert no_note.status_code == 400
    assert DeadLetter.objects.filter(state="discarded").count() == 0

    # A dead letter of the group that fails after the confirmation is left alone.
    late = fail_task(world["queue"], "acme")
    done = operator.post(
        BULK,
        {"op": "discard:matching", **group, "up_to": up_to, "confirmed": "1", "note": "dup"},
        headers=HTMX,
    )
    assert toast_of(done)["text"] == "Discarded 3 dead letters."
    assert set(DeadLetter.objects.filter(state="discarded").values_list("pk", flat=True)) == {
        d.pk for d in world["boom"]
    }
    late.refresh_from_db()
    assert late.state == "open"
    assert world["theirs"].__class__.objects.get(pk=world["theirs"].pk).state == "open"
    notes = set(
        OperatorAction.objects.filter(action="discard_dead_letter").values_list(
            "detail__note", flat=True
        )
    )
    assert notes == {"dup"}


def test_bulk_all_open_of_the_tenant(operator, world):
    ask = operator.post(BULK, {"op": "retry_new:matching", "state": "open"}, headers=HTMX)
    assert 'data-count="5"' in ask.content.decode()  # acme's five, not globex's


@pytest.mark.parametrize(
    "data",
    [
        {"op": "retry:selected"},  # nothing selected
        {"op": "retry:selected", "ids": ["abc"]},
        {"op": "explode:selected", "ids": ["1"]},
        {"op": "retry:everything"},
        {"op": "retry:matching", "state": "retried"},
        {"op": "retry:matching", "queue": "no such queue"},
    ],
)
def test_bulk_bad_input_is_a_400(operator, world, data):
    response = operator.post(BULK, {**data, "confirmed": "1"}, headers=HTMX)
    assert response.status_code == 400
    assert response["X-Error"]
    assert DeadLetter.objects.filter(state="open").count() == 6


def test_bulk_without_htmx_confirms_on_a_page(operator, world):
    response = operator.post(BULK, {"op": "retry:selected", "ids": [world["bang"].pk]})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'data-count="1"' in html


def test_bulk_of_nothing_open_says_so(operator, world):
    dead = world["bang"]
    operator.post(action_url(dead, "retry"), headers=HTMX)
    ask = operator.post(BULK, {"op": "retry:selected", "ids": [dead.pk]}, headers=HTMX)
    assert 'data-count="0"' in ask.content.decode()


def test_groups_show_first_and_last_seen(viewer, world):
    earlier = timezone.now() - timedelta(days=2)
    DeadLetter.objects.filter(pk=world["boom"][0].pk).update(failed_at=earlier)
    found = groups(TenantScope("acme"))
    (group,) = [g for g in found if g.error_message == "boom" and g.count == 3]
    assert group.first_failed_at == earlier
    assert earlier.strftime("%Y-%m-%d %H:%M") in viewer.get(PAGE).content.decode()
