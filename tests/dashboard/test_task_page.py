"""The task page: what it shows for each state, its actions (cancel, retry, emit), roles, tenants.

Tasks are put into each state through the engine's own SQL (claim_task, complete_run,
fail_run, schedule_run, await_event), as a worker would, inside the test's transaction.
"""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from psycopg import sql

from absurd_core import engine
from absurd_core.models import OperatorAction
from approvals.models import ApprovalRequest
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

WORKER = "worker-7"
TRACEBACK = 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: <b>bad</b>\n'


# -- setup -------------------------------------------------------------------------------


@pytest.fixture
def tenants():
    return (
        Tenant.objects.create(slug="acme", name="Acme"),
        Tenant.objects.create(slug="globex", name="Globex"),
    )


@pytest.fixture
def operator(role_user, client, tenants):
    client.force_login(role_user("op", tenants[0], "operator"))
    return client


@pytest.fixture
def viewer(role_user, client, tenants):
    client.force_login(role_user("vi", tenants[0], "viewer"))
    return client


def _sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else None


def spawn(queue, tenant="acme", name="demo.sleep", params=None, **options):
    params = {"seconds": 3600} if params is None else params
    return engine.spawn_task(queue, name, params, headers={"tenant": tenant}, **options).task_id


def claim(queue, task_id):
    rows = _sql(
        "select run_id from absurd.claim_task(%s, %s, 60, 100) where task_id = %s",
        [queue, WORKER, task_id],
    )
    return rows[0][0]


def checkpoint(queue, task_id, run_id, name, value):
    _sql(
        "select absurd.set_task_checkpoint_state(%s, %s, %s, %s::jsonb, %s, 60)",
        [queue, task_id, name, json.dumps(value), run_id],
    )


def completed(queue, result=None, **kw):
    task_id = spawn(queue, **kw)
    run_id = claim(queue, task_id)
    checkpoint(queue, task_id, run_id, "nap", {"slept": True})
    _sql(
        "select absurd.complete_run(%s, %s, %s::jsonb)",
        [queue, run_id, json.dumps(result if result is not None else {"slept": 1})],
    )
    return task_id


def failed(queue, **kw):
    task_id = spawn(queue, max_attempts=1, **kw)
    run_id = claim(queue, task_id)
    reason = {"name": "ValueError", "message": "the <b>input</b> was bad", "traceback": TRACEBACK}
    _sql("select absurd.fail_run(%s, %s, %s::jsonb, null)", [queue, run_id, json.dumps(reason)])
    return task_id


def sleeping(queue, **kw):
    task_id = spawn(queue, **kw)
    run_id = claim(queue, task_id)
    _sql("select absurd.schedule_run(%s, %s, now() + interval '1 hour')", [queue, run_id])
    return task_id


#: What a task of acme waits for when its code awaits "go" (the context adds the namespace).
GO = "tenant:acme:go"


def waiting(queue, event=GO, timeout=600, **kw):
    task_id = spawn(queue, name="demo.wait_event", params={"event": event}, **kw)
    run_id = claim(queue, task_id)
    _sql(
        "select * from absurd.await_event(%s, %s, %s, 'wait', %s, %s)",
        [queue, task_id, run_id, event, timeout],
    )
    return task_id


def state(queue, task_id):
    return engine.get_task_result(queue, task_id).state


def url(name, task_id):
    return reverse(f"dashboard:{name}", args=[task_id])


def page(client, task_id, status=200):
    response = client.get(url("task", task_id))
    assert response.status_code == status
    return response.content.decode()


def audit_rows(task_id):
    return list(OperatorAction.objects.filter(task_id=task_id).values_list("action", "actor"))


def emitted(queue, event):
    query = sql.SQL("select payload from absurd.{} where event_name = %s and payload is not null")
    with connection.cursor() as cursor:
        cursor.execute(
            query.format(sql.Identifier(f"e_{queue}")).as_string(cursor.connection), [event]
        )
        rows = cursor.fetchall()
    return rows[0][0] if rows else None


# -- what the page shows -----------------------------------------------------------------


def test_login_required(client, queue_name):
    task_id = spawn(queue_name)
    response = client.get(url("task", task_id))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_completed_task(viewer, queue_name):
    task_id = completed(queue_name, result={"answer": "<i>42</i>"}, params={"seconds": 1})
    html = page(viewer, task_id)
    assert f"<code>{queue_name}</code>" in html and "demo.sleep" in html
    assert 'data-state="completed"' in html
    assert "Finished: this page no longer updates." in html
    assert "hx-trigger" not in html.split('id="task-live"', 1)[1].split(">", 1)[0]
    assert "&quot;answer&quot;: &quot;&lt;i&gt;42&lt;/i&gt;&quot;" in html  # pretty and escaped
    assert "<i>42</i>" not in html
    assert "&quot;seconds&quot;: 1" in html and "&quot;tenant&quot;: &quot;acme&quot;" in html
    assert WORKER in html  # the run's claimed_by
    assert 'data-checkpoint="nap"' in html and "&quot;slept&quot;: true" in html
    kinds = re.findall(r'data-kind="([a-z_]+)" data-source="transition"', html)
    assert kinds[:2] == ["spawned", "claimed"] and "completed" in kinds
    assert "Cancel task" not in html and "Retry" not in html


def test_failed_task_shows_the_error_and_its_traceback(operator, queue_name):
    task_id = failed(queue_name)
    html = page(operator, task_id)
    assert 'class="failure-name">ValueError<' in html
    assert "the &lt;b&gt;input&lt;/b&gt; was bad" in html
    assert "Traceback (most recent call last):" in html and "&lt;b&gt;bad&lt;/b&gt;" in html
    assert 'id="retry-form"' in html and 'name="spawn_new"' in html
    assert 'id="cancel-form"' not in html


def test_sleeping_task_polls_and_offers_cancel(operator, queue_name):
    task_id = sleeping(queue_name)
    html = page(operator, task_id)
    assert 'hx-trigger="every 2s" data-poll-visible data-poll-unless=".modal.show' in html
    assert url("task_live", task_id) in html
    assert 'id="wait-until"' in html and "Sleeping until" in html
    assert 'id="cancel-form"' in html and "data-confirm=" in html
    assert 'id="retry-form"' not in html


def test_waiting_task_shows_the_event_its_timeout_and_the_emit_form(operator, queue_name):
    task_id = waiting(queue_name, event="tenant:acme:order:7 <paid>")
    html = page(operator, task_id)
    assert '<code id="wait-event">tenant:acme:order:7 &lt;paid&gt;</code>' in html
    assert "then it times out" in html
    assert url("task_emit", task_id) in html
    assert 'name="event" value="tenant:acme:order:7 &lt;paid&gt;"' in html
    assert 'name="payload"' in html and 'hx-preserve="true"' in html


def test_live_partial_is_the_dynamic_part_only(viewer, queue_name):
    task_id = sleeping(queue_name)
    response = viewer.get(url("task_live", task_id), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="task-live"')


def test_checkpoint_values_are_shown_and_a_huge_one_is_cut_in_sql(viewer, queue_name):
    task_id = spawn(queue_name)
    run_id = claim(queue_name, task_id)
    huge = "<script>alert(1)</script>" + "x" * 2_000_000
    checkpoint(queue_name, task_id, run_id, "small", {"n": 1})
    checkpoint(queue_name, task_id, run_id, "huge", huge)
    html = page(viewer, task_id)
    assert len(html) < 200_000  # never megabytes
    assert "&quot;n&quot;: 1" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    size = len(json.dumps(huge))
    assert "truncated" in html
    assert f"the whole value is 1.9\xa0MB ({size} bytes)" in html
    assert "Checkpoints (2)" in html


def test_huge_params_are_cut(viewer, queue_name):
    task_id = spawn(queue_name, params={"blob": "y" * 500_000})
    html = page(viewer, task_id)
    assert len(html) < 100_000
    assert "Cut to the first 10240 characters" in html


def test_linked_approval_requests(viewer, queue_name):
    task_id = waiting(queue_name, event="approval:1")
    ApprovalRequest.objects.create(
        tenant="acme", queue=queue_name, task_id=task_id, task_name="demo.wait_event",
        step_key="approval", title="Pay <it>", expires_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    html = page(viewer, task_id)
    assert "Pay &lt;it&gt;" in html and reverse("dashboard:approvals") in html
    assert 'data-state="pending"' in html


def test_approval_wait_has_no_emit_form_and_refuses_an_emit(operator, queue_name):
    event = "approval:Zr0dM8d7kqVbYq3mWcQ2aA:0192"
    task_id = waiting(queue_name, event=event)
    request = ApprovalRequest.objects.create(
        tenant="acme", queue=queue_name, task_id=task_id, task_name="demo.wait_event",
        step_key="approval", title="Pay", expires_at=timezone.now() + timedelta(days=1),
        event_name=event,
    )  # fmt: skip
    html = page(operator, task_id)
    assert f"approval request #{request.pk}" in html and 'name="payload"' not in html
    response = operator.post(
        url("task_emit", task_id), {"event": event, "payload": "{}", "confirmed": "1"}
    )
    assert response.status_code == 409 and "decide the approval request" in response.text
    assert emitted(queue_name, event) is None and audit_rows(task_id) == []
    # An old request's wait (approval:<id>, made before names were random) is refused too.
    legacy = waiting(queue_name, event="approval:99")
    assert "its approval request" in page(operator, legacy)
    response = operator.post(
        url("task_emit", legacy), {"event": "approval:99", "payload": "{}", "confirmed": "1"}
    )
    assert response.status_code == 409 and emitted(queue_name, "approval:99") is None


# -- tenants and roles -------------------------------------------------------------------


def test_unknown_task_is_404(viewer, queue_name):
    page(viewer, "01a20000-0000-7000-8000-000000000000", status=404)


def test_another_tenants_task_is_404_for_pages_and_actions(operator, queue_name):
    task_id = sleeping(queue_name, tenant="globex")
    page(operator, task_id, status=404)
    assert operator.get(url("task_live", task_id)).status_code == 404
    response = operator.post(url("task_cancel", task_id), {"confirmed": "1"})
    assert response.status_code == 404
    assert state(queue_name, task_id) == "sleeping" and audit_rows(task_id) == []


def test_platform_staff_see_every_tenant_and_the_audit_names_the_tasks_tenant(
    role_user, client, queue_name
):
    client.force_login(role_user("root", is_superuser=True, is_staff=True))
    task_id = sleeping(queue_name, tenant="globex")
    assert "globex" in page(client, task_id)
    client.post(url("task_cancel", task_id), {"confirmed": "1"})
    assert OperatorAction.objects.get(task_id=task_id).tenant == "globex"


def test_viewer_sees_no_actions_and_may_not_act(viewer, queue_name):
    task_id = waiting(queue_name)
    html = page(viewer, task_id)
    assert "cancel-form" not in html and 'name="payload"' not in html
    for name, data in [
        ("task_cancel", {"confirmed": "1"}),
        ("task_retry", {"confirmed": "1"}),
        ("task_emit", {"event": GO, "payload": "{}", "confirmed": "1"}),
    ]:
        assert viewer.post(url(name, task_id), data).status_code == 403
    assert state(queue_name, task_id) == "sleeping" and emitted(queue_name, GO) is None
    assert audit_rows(task_id) == []


@pytest.mark.parametrize("name", ["task_cancel", "task_retry", "task_emit"])
def test_get_on_an_action_is_405(operator, queue_name, name):
    task_id = sleeping(queue_name)
    assert operator.get(url(name, task_id)).status_code == 405
    assert state(queue_name, task_id) == "sleeping"


def test_actions_need_csrf(role_user, tenants, queue_name):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(role_user("op2", tenants[0], "operator"))
    task_id = sleeping(queue_name)
    assert client.post(url("task_cancel", task_id), {"confirmed": "1"}).status_code == 403
    assert state(queue_name, task_id) == "sleeping"


# -- cancel ------------------------------------------------------------------------------


def test_cancel_asks_first_without_javascript(operator, queue_name):
    task_id = sleeping(queue_name)
    response = operator.post(url("task_cancel", task_id))
    assert response.status_code == 200
    assert "Cancel this sleeping task?" in response.text
    assert 'name="confirmed" value="1"' in response.text
    assert state(queue_name, task_id) == "sleeping" and audit_rows(task_id) == []


def test_cancel_is_audited_and_on_the_timeline(operator, queue_name):
    task_id = sleeping(queue_name)
    response = operator.post(url("task_cancel", task_id), {"confirmed": "1"}, follow=True)
    assert response.redirect_chain == [(url("task", task_id), 302)]
    assert state(queue_name, task_id) == "cancelled"
    assert audit_rows(task_id) == [("cancel", "user:op")]
    action = OperatorAction.objects.get(task_id=task_id)
    assert action.tenant == "acme" and action.detail == {"from_state": "sleeping"}
    html = response.content.decode()
    assert "Task cancelled." in html  # the toast
    assert 'data-kind="cancel" data-source="action"' in html and "user:op" in html
    # The operator's action, then the transition it caused.
    assert html.index('data-kind="cancel" data-source="action"') < html.index(
        'data-kind="cancelled" data-source="transition"'
    )


def test_cancel_of_a_finished_task_is_refused_inline(operator, queue_name):
    task_id = completed(queue_name)
    response = operator.post(url("task_cancel", task_id), {"confirmed": "1"})
    assert response.status_code == 409
    assert 'id="action-error"' in response.text and "it cannot be cancelled" in response.text
    assert state(queue_name, task_id) == "completed" and audit_rows(task_id) == []


# -- retry -------------------------------------------------------------------------------


def test_retry_in_place(operator, queue_name):
    task_id = failed(queue_name)
    assert "Retry this task?" in operator.post(url("task_retry", task_id)).text
    assert state(queue_name, task_id) == "failed"
    response = operator.post(url("task_retry", task_id), {"confirmed": "1"}, follow=True)
    assert state(queue_name, task_id) == "pending"
    assert "Retried: attempt 2 is pending." in response.text
    action = OperatorAction.objects.get(task_id=task_id)
    assert (action.action, action.detail) == ("retry", {"spawn_new": False, "attempt": 2})
    assert 'data-kind="retry" data-source="action"' in response.text


def test_retry_as_a_new_task(operator, queue_name):
    task_id = failed(queue_name, params={"seconds": 5})
    response = operator.post(url("task_retry", task_id), {"spawn_new": "on", "confirmed": "1"})
    assert response.status_code == 302
    new_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    assert new_id != str(task_id)
    assert state(queue_name, task_id) == "failed" and state(queue_name, new_id) == "pending"
    action = OperatorAction.objects.get(task_id=task_id)
    assert action.detail["new_task_id"] == new_id and action.detail["spawn_new"] is True
    html = page(operator, new_id)  # the new task is the same tenant's
    assert "&quot;seconds&quot;: 5" in html


def test_retry_of_a_task_that_has_not_failed_is_409(operator, queue_name):
    task_id = sleeping(queue_name)
    response = operator.post(url("task_retry", task_id), {"confirmed": "1"})
    assert response.status_code == 409 and "only a failed task" in response.text
    assert state(queue_name, task_id) == "sleeping" and audit_rows(task_id) == []


def test_engine_refusal_is_a_message_not_a_500(role_user, tenants, queue_name):
    """The engine says no (here: the task was no longer failed when retry ran): nothing changes."""
    from absurd_core.actions import tasks as task_actions
    from tenants.resolution import principal_for_user

    task_id = failed(queue_name)
    query = sql.SQL("update absurd.{} set state = 'completed' where task_id = %s")
    with connection.cursor() as cursor:
        table = sql.Identifier(f"t_{queue_name}")
        cursor.execute(query.format(table).as_string(cursor.connection), [task_id])
    user = role_user("op3", tenants[0], "operator")
    principal = principal_for_user(user, {})
    with pytest.raises(task_actions.ActionRefused, match="only a failed task"):
        task_actions.retry(principal, task_id)
    assert audit_rows(task_id) == []


# -- emit --------------------------------------------------------------------------------


def test_emit_the_awaited_event(operator, queue_name):
    task_id = waiting(queue_name)
    data = {"event": GO, "payload": '{"approved": true, "note": "<ok>"}'}
    asked = operator.post(url("task_emit", task_id), data)
    assert asked.status_code == 200 and "Emit &#x27;tenant:acme:go&#x27;" in asked.text
    assert emitted(queue_name, GO) is None
    response = operator.post(url("task_emit", task_id), {**data, "confirmed": "1"}, follow=True)
    assert json.loads(emitted(queue_name, GO)) == {"approved": True, "note": "<ok>"}
    assert state(queue_name, task_id) == "pending"  # woken, for a worker to resume
    action = OperatorAction.objects.get(task_id=task_id)
    assert action.action == "emit_event" and action.detail["event"] == GO
    assert action.detail["payload"]["type"] == "dict" and action.detail["payload"]["bytes"] > 0
    assert "Emitted &#x27;tenant:acme:go&#x27;." in response.text
    assert 'data-kind="emit_event" data-source="action"' in response.text


def test_invalid_json_payload_is_an_inline_error_and_nothing_is_emitted(operator, queue_name):
    task_id = waiting(queue_name)
    response = operator.post(
        url("task_emit", task_id), {"event": GO, "payload": "{not json", "confirmed": "1"}
    )
    assert response.status_code == 400
    assert "This is not valid JSON" in response.text and "is-invalid" in response.text
    assert "{not json</textarea>" in response.text  # what was typed is kept
    assert emitted(queue_name, GO) is None and state(queue_name, task_id) == "sleeping"
    assert audit_rows(task_id) == []


def test_emit_of_an_event_the_task_no_longer_waits_for_is_409(operator, queue_name):
    task_id = waiting(queue_name)
    response = operator.post(
        url("task_emit", task_id), {"event": "other", "payload": "1", "confirmed": "1"}
    )
    assert response.status_code == 409
    assert "now waits for &#x27;tenant:acme:go&#x27;" in response.text
    assert emitted(queue_name, "other") is None and emitted(queue_name, GO) is None
    sleeper = sleeping(queue_name)
    response = operator.post(
        url("task_emit", sleeper), {"event": GO, "payload": "1", "confirmed": "1"}
    )
    assert response.status_code == 409 and "the task now is sleeping" in response.text


# -- emit: whose names -------------------------------------------------------------------


@pytest.mark.parametrize("event", ["go", "tenant:globex:order-1:paid", "tenant:acmex:go"])
def test_a_wait_outside_the_tasks_tenant_namespace_is_not_emitted(operator, queue_name, event):
    """A raw name, or another tenant's: emitting it would wake or poison other waiters."""
    task_id = waiting(queue_name, event=event)
    html = page(operator, task_id)
    assert 'name="payload"' not in html and "outside its tenant" in html
    response = operator.post(
        url("task_emit", task_id), {"event": event, "payload": "1", "confirmed": "1"}
    )
    assert response.status_code == 403 and "outside its tenant" in response.text
    assert emitted(queue_name, event) is None and state(queue_name, task_id) == "sleeping"
    assert audit_rows(task_id) == []


def test_a_tenantless_wait_is_emitted_by_platform_operators_only(
    role_user, client, tenants, queue_name
):
    task_id = engine.spawn_task(queue_name, "demo.wait_event", {}).task_id
    run_id = claim(queue_name, task_id)
    _sql(
        "select * from absurd.await_event(%s, %s, %s, 'wait', 'deploy:done', null)",
        [queue_name, task_id, run_id],
    )
    data = {"event": "deploy:done", "payload": "2", "confirmed": "1"}
    client.force_login(role_user("acme-op", tenants[0], "operator"))
    assert client.post(url("task_emit", task_id), data).status_code == 404  # not A's task
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    client.force_login(role_user("ops-op", platform, "operator"))
    assert 'name="payload"' in page(client, task_id)
    assert client.post(url("task_emit", task_id), data).status_code == 302
    assert emitted(queue_name, "deploy:done") == "2" and state(queue_name, task_id) == "pending"


def _fail_times(queue, task_id, times):
    for _ in range(times):
        run_id = claim(queue, task_id)
        _sql("select absurd.fail_run(%s, %s, '{}'::jsonb, null)", [queue, run_id])


def test_runaway_attempt_counts_are_flagged(viewer, queue_name):
    # Spawned without max_attempts (absurdctl spawn-task): the engine retries it for ever.
    unlimited = spawn(queue_name, name="demo.flaky")
    _fail_times(queue_name, unlimited, 12)
    html = page(viewer, unlimited)
    warning = html.split('id="runaway-attempts"', 1)[1].split("</div>", 1)[0]
    assert "13 attempts and no attempt limit" in warning and "(no limit)" in html
    # A limit set after the attempts ran past it (runworker stamps the registered one).
    over = spawn(queue_name, name="demo.flaky")
    _fail_times(queue_name, over, 4)
    query = sql.SQL("update absurd.{} set max_attempts = 2 where task_id = %s")
    with connection.cursor() as cursor:
        table = sql.Identifier(f"t_{queue_name}")
        cursor.execute(query.format(table).as_string(cursor.connection), [over])
    assert "5 attempts, more than its limit of 2" in page(viewer, over)
    # Ordinary counts are not flagged.
    normal = spawn(queue_name, name="demo.flaky", max_attempts=5)
    _fail_times(queue_name, normal, 2)
    html = page(viewer, normal)
    assert "3 of 5" in html and 'id="runaway-attempts"' not in html
