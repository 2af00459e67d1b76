"""The webhook plugin in-process: signatures, links only when asked, nothing without a URL."""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import UTC, datetime

import pytest

from absurd_core.listeners import LifecycleEvent
from approvals import delivery as approval_delivery
from approvals.models import ApprovalToken
from plugins.webhook_notify import conf, signing
from plugins.webhook_notify.conf import WebhookSettings
from plugins.webhook_notify.delivery import WebhookFailed, post
from plugins.webhook_notify.listeners import dead_letters
from plugins.webhook_notify.notifiers import WebhookNotifier
from tests.helpers import manage, subprocess_env
from tests.plugins.conftest import SECRET, WITH_WEBHOOKS, verify, webhook_tasks


@pytest.fixture
def webhook_settings(settings, receiver):
    settings.WEBHOOK_NOTIFY_URL = receiver.url
    settings.WEBHOOK_NOTIFY_SECRET = SECRET
    settings.WEBHOOK_NOTIFY_INCLUDE_LINKS = False
    settings.WEBHOOK_NOTIFY_TENANT = ""
    return settings


@pytest.fixture
def only_webhooks(monkeypatch):
    """Call to make webhook_notify approvals.deliver's only notifier from then on."""
    return lambda: monkeypatch.setattr(approval_delivery, "notifiers", lambda: (WebhookNotifier(),))


def failed(queue="testq", tenant="acme") -> LifecycleEvent:
    return LifecycleEvent(
        id=1,
        tenant=tenant,
        queue=queue,
        task_id=uuid.uuid4(),
        run_id=uuid.uuid4(),
        attempt=3,
        kind="failed",
        from_state="running",
        to_state="failed",
        event_name=None,
        reason="ValueError: boom",
        detail=None,
        created_at=datetime.now(UTC),
    )


# -- the signature --------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"type":"dead_letter.created"}'
    header = signing.sign(body, SECRET, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert signing.verify(header, body, SECRET, now=1_800_000_100)
    assert not signing.verify(header, body + b" ", SECRET, now=1_800_000_100)  # tampered
    assert not signing.verify(header, body, "other-secret", now=1_800_000_100)
    assert not signing.verify(header, body, SECRET, now=1_800_000_000 + 301)  # a replay
    assert not signing.verify("v1=abc", body, SECRET)
    now = signing.sign(body, SECRET)
    assert verify(now, body, SECRET) and signing.verify(now, body, SECRET)


# -- decision links -------------------------------------------------------------------------


def test_links_are_left_out_by_default_and_the_webhook_is_a_durable_task(
    make_request, webhook_settings, webhooks_queue, only_webhooks, receiver
):
    request, _ = make_request(approvers=["boss@example.com"])  # emailed
    only_webhooks()
    token = request.tokens.get()
    assert approval_delivery.send_link(token.pk, "request")
    (task,) = webhook_tasks()
    payload = task["params"]["payload"]
    assert payload["type"] == "approval.requested" and "link" not in payload
    assert "/approvals/" not in str(task["params"])
    assert task["headers"]["tenant"] == "acme"
    assert receiver.requests == []  # the worker sends it, not the approval step

    # A re-run of the same step (a crash before its checkpoint) spawns nothing more.
    assert approval_delivery.send_link(token.pk, "request")
    assert len(webhook_tasks()) == 1


def test_with_links_on_the_webhook_is_posted_at_once_and_its_link_decides(
    make_request, webhook_settings, webhooks_queue, only_webhooks, receiver, client
):
    webhook_settings.WEBHOOK_NOTIFY_INCLUDE_LINKS = True
    request, _ = make_request(approvers=["boss@example.com"])  # emailed
    only_webhooks()
    token = request.tokens.get()
    assert approval_delivery.send_link(token.pk, "request")
    (received,) = receiver.requests
    assert verify(received.headers["X-Absurd-Signature"], received.body, SECRET)
    body = received.json
    link = body["link"]
    assert link.startswith("http://127.0.0.1:8000/approvals/")
    assert body["text"].endswith(f" <{link}|Decide>")
    # Never stored: no delivery task holds the credential.
    assert webhook_tasks() == []
    assert client.get(link.removeprefix("http://127.0.0.1:8000")).status_code == 200


def test_with_links_on_a_failing_receiver_fails_the_approval_step(
    make_request, webhook_settings, webhooks_queue, only_webhooks, receiver
):
    webhook_settings.WEBHOOK_NOTIFY_INCLUDE_LINKS = True
    receiver.statuses = [503]
    request, _ = make_request(approvers=["boss@example.com"])  # emailed
    only_webhooks()
    token = request.tokens.get()
    with pytest.raises(WebhookFailed, match="HTTP 503"):
        approval_delivery.send_link(token.pk, "request")
    token = ApprovalToken.objects.get(pk=token.pk)
    assert token.notify_error == "WebhookFailed: the receiver answered HTTP 503: receiver is down"
    assert token.notify_attempts == 2  # the email, then this failed send
    assert request.events.filter(kind="notify_failed").count() == 1
    assert receiver.url not in token.notify_error


def test_a_receiver_that_is_not_listening_is_a_clear_error(
    make_request, webhook_settings, webhooks_queue, only_webhooks, receiver
):
    webhook_settings.WEBHOOK_NOTIFY_INCLUDE_LINKS = True
    receiver.server.shutdown()
    receiver.server.server_close()  # nothing listens on the port any more
    request, _ = make_request(approvers=["boss@example.com"])  # emailed
    only_webhooks()
    with pytest.raises(WebhookFailed, match="could not be reached"):
        approval_delivery.send_link(request.tokens.get().pk, "request")


def test_a_receiver_that_does_not_answer_in_time_is_a_failure():
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        config = WebhookSettings(url, SECRET, include_links=False, timeout=0.5, tenant="")
        with pytest.raises(WebhookFailed, match="did not answer: timed out"):
            post({"type": "dead_letter.created", "id": "x", "text": "t"}, config)


# -- dead letters ---------------------------------------------------------------------------


def test_failures_of_webhook_deliveries_are_not_reported_by_webhook(
    db, webhook_settings, webhooks_queue
):
    dead_letters(failed(queue="webhooks"))
    assert webhook_tasks() == []


def test_attempts_that_will_be_retried_are_not_dead_letters(db, webhook_settings, webhooks_queue):
    event = failed()
    dead_letters(
        LifecycleEvent(**{**event.__dict__, "kind": "retry_scheduled", "to_state": "pending"})
    )
    assert webhook_tasks() == []


# -- no URL ---------------------------------------------------------------------------------


def test_without_a_url_notifier_and_listener_do_nothing_and_log_it_once(
    make_request, settings, webhooks_queue, only_webhooks, caplog
):
    settings.WEBHOOK_NOTIFY_URL = ""
    conf._warned.clear()
    request, _ = make_request(approvers=["boss@example.com"])  # emailed
    only_webhooks()
    with caplog.at_level(logging.WARNING, logger="plugins.webhook_notify"):
        assert approval_delivery.send_link(request.tokens.get().pk, "request")
        dead_letters(failed())
        dead_letters(failed())
    assert webhook_tasks() == []
    messages = [r.getMessage() for r in caplog.records if r.name == "plugins.webhook_notify"]
    assert len(messages) == 1 and "WEBHOOK_NOTIFY_URL is not set" in messages[0]


# -- manage.py check ------------------------------------------------------------------------


def _check(**env):
    return manage("check", env=subprocess_env(PLUGINS=WITH_WEBHOOKS, **env))


def test_check_warns_when_the_plugin_is_installed_without_a_url():
    result = _check(WEBHOOK_NOTIFY_URL="")
    assert result.returncode == 0, result.stderr
    assert "webhook_notify.W001" in result.stderr


def test_check_refuses_a_url_that_is_not_http_and_warns_without_a_secret():
    bad = _check(WEBHOOK_NOTIFY_URL="ftp://example.com/hook")
    assert bad.returncode != 0
    assert "webhook_notify.E001" in bad.stderr
    unsigned = _check(WEBHOOK_NOTIFY_URL="https://example.com/hook", WEBHOOK_NOTIFY_SECRET="")
    assert unsigned.returncode == 0 and "webhook_notify.W002" in unsigned.stderr
    clear = _check(
        WEBHOOK_NOTIFY_URL="http://example.com/hook",
        WEBHOOK_NOTIFY_SECRET="s",
        WEBHOOK_NOTIFY_INCLUDE_LINKS="true",
    )
    assert clear.returncode == 0 and "webhook_notify.W003" in clear.stderr
    assert "webhook_notify.W001" not in clear.stderr


def test_the_plugin_is_not_installed_by_default():
    result = manage("plugins", env=subprocess_env(PLUGINS="plugins.email_notify,plugins.demo"))
    assert "webhook_notify" not in result.stdout
    listed = manage("plugins", env=subprocess_env(PLUGINS=WITH_WEBHOOKS))
    assert "webhook_notify 1.0.0 (plugins.webhook_notify)" in listed.stdout
    assert "tasks: webhook_notify.deliver" in listed.stdout
    assert "listeners: plugins.webhook_notify.listeners.dead_letters" in listed.stdout
