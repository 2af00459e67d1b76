"""Webhooks through a real runworker to a real HTTP receiver: signed, retried, sent once."""

from __future__ import annotations

import pytest
from django.db import connection

from absurd_core import engine, spawn
from absurd_core.listeners import dispatch
from absurd_core.models import DeadLetter, ListenerCursor, TaskEvent
from plugins.webhook_notify.listeners import dead_letters
from tests.core.lifecycle_paths import SqlPath
from tests.helpers import WorkerProcess, raw_connection, wait_for
from tests.plugins.conftest import LISTENER, SECRET, verify, webhook_tasks, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ("--poll-interval", "0.1")


@pytest.fixture
def queues(webhooks_queue):
    for queue in ("testq", "demo", "approvals"):
        engine.drop_queue(queue)
        engine.create_queue(queue)


def delivered_all():
    tasks = webhook_tasks()
    return tasks if tasks and all(t["state"] == "completed" for t in tasks) else None


def failed_event(task_id) -> TaskEvent:
    return TaskEvent.objects.get(task_id=task_id, kind="failed")


def test_a_dead_letter_is_posted_once_signed_with_a_slack_line(receiver, queues):
    env = worker_env(receiver.url)
    with WorkerProcess("--queue", "testq", "--queue", "webhooks", *FAST, env=env) as worker:
        # A new listener starts at the present: wait until the worker has started it.
        wait_for(lambda: ListenerCursor.objects.filter(listener=LISTENER).exists())
        task = spawn(
            "test.always_fail",
            {"message": "card <declined> & gone"},
            tenant="acme",
            max_attempts=1,
        )
        (request,) = receiver.wait(1)
        (delivery,) = wait_for(delivered_all)
    assert worker.proc.returncode == 0
    dead = DeadLetter.objects.get(task_id=task.task_id)
    event = failed_event(task.task_id)

    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert verify(request.headers["X-Absurd-Signature"], request.body, SECRET)
    assert not verify(request.headers["X-Absurd-Signature"], request.body + b" ", SECRET)
    body = request.json
    assert body["type"] == "dead_letter.created"
    assert body["id"] == f"dead_letter.created:{event.id}" == request.headers["X-Absurd-Delivery"]
    assert body["tenant"] == "acme" and body["event_id"] == event.id
    assert body["timestamp"].endswith("Z")
    assert body["dead_letter"] == {
        "id": dead.pk,
        "queue": "testq",
        "task_id": str(task.task_id),
        "task_name": "test.always_fail",
        "run_id": str(event.run_id),
        "error_name": "ValueError",
        "error_message": "card <declined> & gone",
        "attempts": 1,
        "failed_at": body["timestamp"],
        "state": "open",
    }
    assert body["text"] == (
        "Dead letter: test.always_fail failed after 1 attempt - ValueError: card "
        f"&lt;declined&gt; &amp; gone (queue testq, tenant acme, task {task.task_id}, "
        f"dead letter {dead.pk})"
    )
    # The delivery ran under the dead letter's tenant, keyed by the event.
    assert delivery["headers"]["tenant"] == "acme"
    assert len(receiver.requests) == 1


def test_a_failing_receiver_is_retried_with_backoff_until_it_takes_the_webhook(
    receiver, queues, settings
):
    settings.WEBHOOK_NOTIFY_URL = receiver.url
    settings.WEBHOOK_NOTIFY_SECRET = SECRET
    receiver.statuses = [500]  # down once, then up
    driver = SqlPath()
    conn = raw_connection()
    try:
        dispatch(conn, [(LISTENER, dead_letters)])  # the listener starts at the present
        task_id = driver.spawn("test.always_fail", {}, max_attempts=1)
        driver.fail(driver.claim(), message="boom")
        event = failed_event(task_id)
        wait_for(lambda: (dispatch(conn, [(LISTENER, dead_letters)]), webhook_tasks())[1])
    finally:
        conn.close()
        driver.close()
    (spawned,) = webhook_tasks()
    assert spawned["params"]["payload"]["id"] == f"dead_letter.created:{event.id}"

    with WorkerProcess("--queue", "webhooks", *FAST, env=worker_env(receiver.url)):
        first, second = receiver.wait(2, timeout=30)
        (delivery,) = wait_for(delivered_all)
    assert (first.status, second.status) == (500, 200)
    assert first.body == second.body  # the same webhook, the same id: receivers can dedupe
    assert verify(first.headers["X-Absurd-Signature"], first.body, SECRET)
    assert verify(second.headers["X-Absurd-Signature"], second.body, SECRET)
    assert delivery["attempts"] == 2
    retry = TaskEvent.objects.get(task_id=delivery["task_id"], kind="retry_scheduled")
    assert retry.reason == "WebhookFailed: the receiver answered HTTP 500: receiver is down"
    # Exponential backoff from 2 s: the second attempt waited for it.
    assert retry.detail["available_at"]
    assert len(receiver.requests) == 2


def test_a_listener_fed_the_same_dead_letter_twice_sends_one_webhook(receiver, queues, settings):
    settings.WEBHOOK_NOTIFY_URL = receiver.url
    settings.WEBHOOK_NOTIFY_SECRET = SECRET
    seen = []

    def listener(event):
        seen.append(event.id)
        dead_letters(event)

    driver = SqlPath()
    conn = raw_connection()
    try:
        dispatch(conn, [(LISTENER, listener)])
        start = ListenerCursor.objects.get(listener=LISTENER)
        task_id = driver.spawn("test.always_fail", {}, max_attempts=1)
        driver.fail(driver.claim())
        event = failed_event(task_id)

        def fed(times):
            dispatch(conn, [(LISTENER, listener)])
            return seen.count(event.id) >= times

        wait_for(lambda: fed(1))
        # At least once: a worker crashing before its cursor moved feeds the event again.
        ListenerCursor.objects.filter(listener=LISTENER).update(
            last_txid=start.last_txid, last_id=start.last_id
        )
        wait_for(lambda: fed(2))
    finally:
        conn.close()
        driver.close()
    assert seen.count(event.id) == 2
    assert len(webhook_tasks()) == 1

    with WorkerProcess("--queue", "webhooks", *FAST, env=worker_env(receiver.url)):
        (request,) = receiver.wait(1)
        wait_for(delivered_all)
    assert request.json["id"] == f"dead_letter.created:{event.id}"
    assert len(receiver.requests) == 1


def test_approval_requests_and_reminders_one_webhook_per_approver_without_links(receiver, queues):
    env = worker_env(receiver.url, APPROVAL_REMINDERS="3")
    spawned = spawn(
        "demo.expense_approval",
        {
            "amount": 12,
            "requester": "ann",
            "approvers": ["a@example.com", "b@example.com"],
            "expires_in": 5,
        },
        tenant="acme",
    )
    worker_args = ("--queue", "demo", "--queue", "approvals", "--queue", "webhooks", *FAST)
    with WorkerProcess(*worker_args, env=env):
        requests = receiver.wait(4)
        wait_for(lambda: engine.get_task_result("demo", spawned.task_id).state == "completed")
        wait_for(delivered_all)
    assert len(receiver.requests) == 4
    bodies = [r.json for r in requests]
    for request in requests:
        assert verify(request.headers["X-Absurd-Signature"], request.body, SECRET)
        assert b"/approvals/" not in request.body  # no decision link by default
    by_kind = {}
    for body in bodies:
        by_kind.setdefault(body["type"], []).append(body)
    assert sorted(b["approver"] for b in by_kind["approval.requested"]) == [
        "a@example.com",
        "b@example.com",
    ]
    assert sorted(b["approver"] for b in by_kind["approval.reminder"]) == [
        "a@example.com",
        "b@example.com",
    ]
    first = next(b for b in by_kind["approval.requested"] if b["approver"] == "a@example.com")
    approval = first["approval"]
    assert approval["title"] == "Expense of 12 for ann"
    assert approval["task_id"] == str(spawned.task_id) and approval["queue"] == "demo"
    assert approval["context"] == {"amount": 12, "requester": "ann"}
    assert first["id"] == f"approval.requested:{approval['id']}:a@example.com"
    assert "link" not in first and first["tenant"] == "acme"
    expires = approval["expires_at"][:16].replace("T", " ")
    assert first["text"] == (
        f"Approval needed: Expense of 12 for ann (requested by ann; approver a@example.com; "
        f"policy any; expires {expires} UTC; request {approval['id']}, tenant acme)"
    )
    reminder = next(b for b in by_kind["approval.reminder"] if b["approver"] == "b@example.com")
    assert reminder["reminder"] == 1
    assert reminder["id"] == f"approval.reminder:{approval['id']}:b@example.com:1"
    assert reminder["text"].startswith("Reminder: approval needed: Expense of 12 for ann")


def test_without_a_url_nothing_is_sent_and_the_log_says_so_once(receiver, queues):
    env = worker_env("")  # installed, no URL
    with WorkerProcess("--queue", "testq", "--queue", "webhooks", *FAST, env=env) as worker:
        wait_for(lambda: ListenerCursor.objects.filter(listener=LISTENER).exists())
        tasks = [spawn("test.always_fail", {}, tenant="acme", max_attempts=1) for _ in range(2)]
        events = [
            wait_for(lambda t=t: TaskEvent.objects.filter(task_id=t.task_id, kind="failed").first())
            for t in tasks
        ]
        last = max(events, key=lambda e: e.id)

        def listener_passed_last():
            with connection.cursor() as cursor:
                cursor.execute(
                    "select (c.last_txid, c.last_id) >= (e.txid::text::bigint, e.id)"
                    "  from absurd_control_listener_cursor c, absurd_control_task_event e"
                    " where c.listener = %s and e.id = %s",
                    [LISTENER, last.id],
                )
                return cursor.fetchone()[0]

        wait_for(listener_passed_last)
    assert webhook_tasks() == []
    assert receiver.requests == []
    # Once in the log, for two dead letters; and runworker's system check warned at start.
    log_line = "plugins.webhook_notify webhook_notify: WEBHOOK_NOTIFY_URL is not set"
    assert worker.output.count(log_line) == 1, worker.output
    assert "webhook_notify.W001" in worker.output


def test_the_delivery_task_is_internal_a_tenant_cannot_spawn_a_signed_post(webhooks_queue):
    """Spawned through the API, it would POST a body of the tenant's choosing, signed with
    the platform's secret, to the platform's receiver."""
    import plugins.webhook_notify.tasks  # noqa: F401  (registers it in this process)
    from absurd_core.registry import registry
    from tenants.api_keys import issue_key
    from tenants.models import Tenant
    from tests.helpers import api

    assert registry["webhook_notify.deliver"].internal
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "ops").key
    forged = {"task": "webhook_notify.deliver", "params": {"payload": {"type": "forged"}}}
    answer = api("post", "/tasks", key, forged)
    assert answer.status_code == 404
    assert answer.json()["detail"] == "No task named 'webhook_notify.deliver' is registered."
    assert webhook_tasks() == []
