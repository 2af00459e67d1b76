"""The Queues page: everyone reads; only platform admins create, re-configure, clean up,
pause, resume and drop queues, each change audited."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from absurd_core import engine
from absurd_core.models import OperatorAction
from absurd_core.queues import pauses
from tenants.models import Membership, Tenant
from tests.helpers import pause_queue

pytestmark = pytest.mark.django_db

HOSTILE_NAMES = ["a; drop table x", "x" * 58, "-leading-dash", "quote'd", "tab\tname", " a"]
MUTATIONS = ["queue_policy", "queue_cleanup", "drop_queue", "pause_queue", "resume_queue"]


@pytest.fixture
def tenants():
    return (
        Tenant.objects.create(slug="acme", name="Acme"),
        Tenant.objects.create(slug="ops", name="Ops", is_platform=True),
    )


@pytest.fixture
def viewer(role_user, client, tenants):
    client.force_login(role_user("vic", tenants[0], "viewer"))
    return client


@pytest.fixture
def tenant_admin(role_user, client, tenants):
    client.force_login(role_user("tad", tenants[0], "admin"))
    return client


@pytest.fixture
def platform_admin(role_user, client, tenants):
    client.force_login(role_user("pam", tenants[1], "admin"))
    return client


def _spawn(queue, tenant, n=1):
    ids = []
    for _ in range(n):
        with connection.cursor() as cursor:
            cursor.execute(
                "select task_id from absurd.spawn_task(%s, 'test.any', '{}'::jsonb, %s::jsonb)",
                [queue, json.dumps({"headers": {"tenant": tenant}})],
            )
            ids.append(cursor.fetchone()[0])
    return ids


def _section(html: str, queue: str) -> str:
    """The queue's row in the table, and its "Manage queues" section when there is one."""
    parts = html.split(f'data-queue="{queue}"')
    row = parts[1].split("</tr>", 1)[0] if len(parts) > 1 else ""
    manage = parts[2].split("</section>", 1)[0] if len(parts) > 2 else ""
    return row + manage


def _count(html: str, queue: str, state: str) -> str:
    """A count's text: the link in its cell (to the runs list with that queue and state)."""
    cell = _section(html, queue).split(f'data-state="{state}"', 1)[1].split("</td>", 1)[0]
    return cell.split('class="count-link"', 1)[1].split(">", 1)[1].split("<", 1)[0]


def _actions():
    return list(OperatorAction.objects.values_list("actor", "action", "queue", "detail"))


# -- reading ------------------------------------------------------------------------


def test_login_required(client):
    response = client.get(reverse("dashboard:queues"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_viewer_sees_their_tenants_counts_and_policy_but_no_controls(viewer, queue_name):
    _spawn(queue_name, "acme", 2)
    _spawn(queue_name, "globex", 5)
    html = viewer.get(reverse("dashboard:queues")).content.decode()
    assert _count(html, queue_name, "pending") == "2"  # not globex's 5
    section = _section(html, queue_name)
    assert 'data-badge="active"' in section
    assert 'data-ttl="2592000">30 d<' in section  # the engine's default: 30 days
    assert 'data-limit="1000"' in section
    assert "only platform admins" in html
    for marker in ["<form", "Create a queue", "Drop this queue", "Pause", "Run cleanup"]:
        assert marker not in html.split('id="main"', 1)[1].split("</main>", 1)[0]


def test_tenant_admin_sees_no_controls_and_may_not_change_queues(tenant_admin, queue_name):
    html = tenant_admin.get(reverse("dashboard:queues")).content.decode()
    assert f'action="{reverse("dashboard:pause_queue", args=[queue_name])}"' not in html
    assert "Create a queue" not in html
    response = tenant_admin.post(reverse("dashboard:create_queue"), {"name": "q_new_one"})
    assert response.status_code == 403
    assert not engine.queue_exists("q_new_one")
    for name in MUTATIONS:
        response = tenant_admin.post(
            reverse(f"dashboard:{name}", args=[queue_name]), {"confirm": queue_name}
        )
        assert response.status_code == 403, name
    assert engine.queue_exists(queue_name)
    assert queue_name not in pauses()
    assert _actions() == []


def test_viewer_may_not_change_queues(viewer, queue_name):
    for name in MUTATIONS:
        response = viewer.post(
            reverse(f"dashboard:{name}", args=[queue_name]), {"confirm": queue_name}
        )
        assert response.status_code == 403, name
    assert engine.queue_exists(queue_name)
    assert _actions() == []


def test_platform_admin_sees_every_control(platform_admin, queue_name):
    _spawn(queue_name, "acme", 1)
    _spawn(queue_name, "globex", 2)
    html = platform_admin.get(reverse("dashboard:queues")).content.decode()
    assert _count(html, queue_name, "pending") == "3"  # all tenants
    for name in MUTATIONS[:-1]:  # resume shows once the queue is paused
        assert f'action="{reverse(f"dashboard:{name}", args=[queue_name])}"' in html
    assert f'action="{reverse("dashboard:create_queue")}"' in html
    assert f'aria-label="Pause {queue_name}"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_get_on_every_mutating_url_is_405(platform_admin, queue_name):
    assert platform_admin.get(reverse("dashboard:create_queue")).status_code == 405
    for name in MUTATIONS:
        assert (
            platform_admin.get(reverse(f"dashboard:{name}", args=[queue_name])).status_code == 405
        )
    assert engine.queue_exists(queue_name)


def test_anonymous_post_goes_to_login(client, queue_name):
    response = client.post(
        reverse("dashboard:drop_queue", args=[queue_name]), {"confirm": queue_name}
    )
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert engine.queue_exists(queue_name)


def test_mutations_need_the_csrf_token(role_user, tenants, queue_name):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(role_user("pam", tenants[1], "admin"))
    response = client.post(reverse("dashboard:pause_queue", args=[queue_name]))
    assert response.status_code == 403
    assert queue_name not in pauses()


# -- create ---------------------------------------------------------------------------


def test_create_queue_toasts_and_audits(platform_admin):
    name = "q_created_here"
    try:
        response = platform_admin.post(
            reverse("dashboard:create_queue"), {"name": name}, follow=True
        )
        assert response.status_code == 200
        assert engine.queue_exists(name)
        html = response.content.decode()
        assert f"Created queue {name}." in html and 'data-autoshow="true"' in html
        assert f'data-queue="{name}"' in html
        assert _actions() == [("user:pam", "create_queue", name, None)]
    finally:
        engine.drop_queue(name)


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, ""])
def test_create_refuses_bad_names_inline_and_changes_nothing(platform_admin, name):
    before = engine.list_queues()
    response = platform_admin.post(reverse("dashboard:create_queue"), {"name": name})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="invalid-feedback"' in html or "invalid-feedback" in html
    assert "is-invalid" in html
    assert engine.list_queues() == before
    assert _actions() == []


@pytest.mark.parametrize("name", ["demo%00", "..%2Fdemo", "100%s", "%(x)s"])
@pytest.mark.parametrize("route", ["queue_policy", "drop_queue"])
def test_a_name_with_percent_signs_is_a_404_not_a_500(platform_admin, queue_name, name, route):
    # The forms' ids are built from the name; "%" must not reach Django's format as such.
    before = pauses(), engine.list_queues()
    data = {"ttl_value": "1", "ttl_unit": "days", "cleanup_limit": "1", "confirm": name}
    response = platform_admin.post(reverse(f"dashboard:{route}", args=[name]), data)
    assert response.status_code == 404
    assert (pauses(), engine.list_queues()) == before and _actions() == []


def test_create_explains_the_problem(platform_admin):
    html = platform_admin.post(
        reverse("dashboard:create_queue"), {"name": "a; drop table x"}
    ).content.decode()
    assert "is not allowed: use ASCII letters" in html
    html = platform_admin.post(
        reverse("dashboard:create_queue"), {"name": "x" * 58}
    ).content.decode()
    assert "too long: 58 bytes (at most 57)" in html


def test_create_an_existing_queue_is_a_409_inline(platform_admin, queue_name):
    response = platform_admin.post(reverse("dashboard:create_queue"), {"name": queue_name})
    assert response.status_code == 409
    assert "exists already" in response.content.decode()
    assert _actions() == []


# -- cleanup policy --------------------------------------------------------------------


def test_update_policy(platform_admin, queue_name):
    response = platform_admin.post(
        reverse("dashboard:queue_policy", args=[queue_name]),
        {"ttl_value": "2", "ttl_unit": "hours", "cleanup_limit": "50"},
        follow=True,
    )
    assert response.status_code == 200
    policy = engine.get_queue_policy(queue_name)
    assert (policy.cleanup_ttl, policy.cleanup_limit) == (timedelta(hours=2), 50)
    html = response.content.decode()
    assert f"Queue {queue_name} now keeps finished tasks for 2 h" in html
    assert 'data-ttl="7200">2 h<' in _section(html, queue_name)
    assert _actions() == [
        ("user:pam", "update_queue_policy", queue_name,
         {"cleanup_ttl_seconds": 7200, "cleanup_limit": 50}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "data, error",
    [
        (
            {"ttl_value": "0", "ttl_unit": "days", "cleanup_limit": "10"},
            "greater than or equal to 1",
        ),
        (
            {"ttl_value": "1", "ttl_unit": "days", "cleanup_limit": "0"},
            "greater than or equal to 1",
        ),
        ({"ttl_value": "1", "ttl_unit": "weeks", "cleanup_limit": "10"}, "Select a valid choice"),
        ({"ttl_value": "4000", "ttl_unit": "days", "cleanup_limit": "10"}, "at most 3650 days"),
        ({"ttl_value": "x", "ttl_unit": "days", "cleanup_limit": "10"}, "Enter a whole number"),
    ],
)
def test_bad_policy_is_an_inline_error_and_changes_nothing(platform_admin, queue_name, data, error):
    before = engine.get_queue_policy(queue_name)
    response = platform_admin.post(reverse("dashboard:queue_policy", args=[queue_name]), data)
    assert response.status_code == 400
    section = _section(response.content.decode(), queue_name)
    assert error in section
    assert "<details open>" in section  # the form with the error is shown, not folded away
    assert engine.get_queue_policy(queue_name) == before
    assert _actions() == []


@pytest.mark.parametrize("name", ["no_such_queue", "a; drop table x", "x" * 80])
def test_actions_on_a_missing_or_hostile_queue_are_404(platform_admin, name):
    before = engine.list_queues()
    data = {"ttl_value": "1", "ttl_unit": "days", "cleanup_limit": "10", "confirm": name}
    for action in MUTATIONS:
        response = platform_admin.post(reverse(f"dashboard:{action}", args=[name]), data)
        assert response.status_code == 404, action
    assert engine.list_queues() == before
    assert _actions() == []


# -- cleanup now ------------------------------------------------------------------------


def _finish_one(queue):
    with connection.cursor() as cursor:
        cursor.execute("select run_id from absurd.claim_task(%s, 'test', 60, 1)", [queue])
        (run_id,) = cursor.fetchone()
        cursor.execute("select absurd.complete_run(%s, %s, '{}'::jsonb)", [queue, run_id])


def _fake_now(seconds):
    with connection.cursor() as cursor:
        cursor.execute(
            "select set_config('absurd.fake_now',"
            " case when %s::int is null then '' else (now() + make_interval(secs => %s))::text end,"
            " false)",
            [seconds, seconds],
        )


def test_run_cleanup_now_deletes_old_finished_tasks_and_says_how_many(platform_admin, queue_name):
    _spawn(queue_name, "acme", 2)
    _finish_one(queue_name)
    engine.set_queue_policy(queue_name, {"cleanup_ttl": "1 hour"})
    _fake_now(2 * 3600)
    try:
        response = platform_admin.post(
            reverse("dashboard:queue_cleanup", args=[queue_name]), follow=True
        )
    finally:
        _fake_now(None)
    html = response.content.decode()
    assert f"Cleaned up {queue_name}: deleted 1 tasks and 0 events." in html
    assert _count(html, queue_name, "pending") == "1"
    assert _count(html, queue_name, "completed") == "0"
    assert _actions() == [
        ("user:pam", "cleanup_queue", queue_name, {"tasks_deleted": 1, "events_deleted": 0})
    ]


# -- pause and resume -------------------------------------------------------------------


def test_pause_and_resume(platform_admin, queue_name):
    response = platform_admin.post(reverse("dashboard:pause_queue", args=[queue_name]), follow=True)
    html = response.content.decode()
    assert f"Paused {queue_name}: workers stop claiming from it." in html
    assert pauses()[queue_name].paused_by == "user:pam"
    section = _section(html, queue_name)
    assert 'data-badge="paused"' in section and "Paused by user:pam" in section
    assert f'aria-label="Resume {queue_name}"' in section
    # The overview shows it too.
    overview = platform_admin.get(reverse("dashboard:overview")).content.decode()
    row = overview.split(f'data-queue="{queue_name}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-badge="paused"' in row

    again = platform_admin.post(reverse("dashboard:pause_queue", args=[queue_name]), follow=True)
    assert f"{queue_name} was paused already." in again.content.decode()

    resumed = platform_admin.post(reverse("dashboard:resume_queue", args=[queue_name]), follow=True)
    assert f"Resumed {queue_name}: workers claim from it again." in resumed.content.decode()
    assert queue_name not in pauses()
    again = platform_admin.post(reverse("dashboard:resume_queue", args=[queue_name]), follow=True)
    assert f"{queue_name} was not paused." in again.content.decode()
    # Only the changes are audited, not the no-ops.
    assert [a[1] for a in _actions()] == ["pause_queue", "resume_queue"]


# -- drop ------------------------------------------------------------------------------


def test_drop_needs_the_typed_name(platform_admin, queue_name):
    _spawn(queue_name, "acme", 1)
    for typed in ["", "wrong", queue_name.upper(), f" {queue_name}", f"{queue_name} "]:
        response = platform_admin.post(
            reverse("dashboard:drop_queue", args=[queue_name]), {"confirm": typed}
        )
        assert response.status_code == 400, typed
        section = _section(response.content.decode(), queue_name)
        assert "is-invalid" in section
        assert "<details open>" in section
        assert engine.queue_exists(queue_name)
    assert "nothing was dropped" in section
    assert _actions() == []


def test_drop_with_the_typed_name(platform_admin, tenants):
    name = "q_to_drop"
    engine.create_queue(name)
    pause_queue(name, "user:someone")
    _spawn(name, "acme", 2)
    response = platform_admin.post(
        reverse("dashboard:drop_queue", args=[name]), {"confirm": name}, follow=True
    )
    assert response.status_code == 200
    assert not engine.queue_exists(name)
    assert name not in pauses()
    html = response.content.decode()
    assert f"Dropped queue {name} and all its tasks." in html
    assert f'data-queue="{name}"' not in html
    assert _actions() == [("user:pam", "drop_queue", name, None)]


def test_superuser_is_a_platform_admin(role_user, client, queue_name):
    client.force_login(role_user("root", is_superuser=True, is_staff=True))
    response = client.post(reverse("dashboard:pause_queue", args=[queue_name]))
    assert response.status_code == 302
    assert queue_name in pauses()
    assert OperatorAction.objects.get().actor == "user:root"


def test_platform_admin_acting_as_an_ordinary_tenant_has_no_platform_powers(
    role_user, client, tenants, queue_name
):
    # Platform powers come from the membership acted through (docs/tenants.md, Roles): a
    # platform admin who switched to acme, where they are admin too, is acme's admin only.
    user = role_user("pia", tenants[1], "admin")
    Membership.objects.create(user=user, tenant=tenants[0], role="admin")
    client.force_login(user)
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "acme", "next": "/"})
    response = client.post(reverse("dashboard:pause_queue", args=[queue_name]))
    assert response.status_code == 403
    assert queue_name not in pauses() and _actions() == []
    assert 'name="confirm"' not in client.get(reverse("dashboard:queues")).content.decode()
    # Acting as the platform tenant, the same user pauses; the audit row names that tenant.
    client.post(reverse("dashboard:switch_tenant"), {"tenant": "ops", "next": "/"})
    response = client.post(reverse("dashboard:pause_queue", args=[queue_name]))
    assert response.status_code == 302 and queue_name in pauses()
    assert OperatorAction.objects.get().tenant == "ops"


def test_estimated_counts_are_marked(viewer, queue_name, monkeypatch):
    from absurd_core.actions import queues as queue_actions
    from absurd_core.queries.queues import QueueStats

    def estimated(scope, using="default"):
        counts = {"pending": 1_234_567, "running": 0, "sleeping": 0, "completed": 0,
                  "failed": 0, "cancelled": 0}  # fmt: skip
        return [QueueStats(queue_name, counts, True, None, False)]

    monkeypatch.setattr(queue_actions, "overview_stats", estimated)
    section = _section(viewer.get(reverse("dashboard:queues")).content.decode(), queue_name)
    assert (
        'class="text-end estimate" data-label="Pending" data-state="pending" title="estimate"'
        in (section)
    )
    assert _count(
        viewer.get(reverse("dashboard:queues")).content.decode(), queue_name, "pending"
    ) == ("≈1,234,567")


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_name_create_and_audit_it_once():
    import threading

    from django.db import connections

    from absurd_core.actions import queues as queue_actions
    from absurd_core.tenancy import ALL_TENANTS, TenantScope
    from tenants.permissions import Principal

    name = "q_raced_create"
    engine.drop_queue(name)
    principal = Principal(TenantScope(ALL_TENANTS), "admin", "user:racer", platform=True)
    barrier = threading.Barrier(4)
    outcomes = []

    def create():
        try:
            barrier.wait()
            queue_actions.create_queue(principal, name)
            outcomes.append("created")
        except queue_actions.QueueExists:
            outcomes.append("exists")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["created", "exists", "exists", "exists"]
        assert OperatorAction.objects.filter(action="create_queue", queue=name).count() == 1
    finally:
        engine.drop_queue(name)
