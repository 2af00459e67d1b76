"""approvals.deliver in a real worker: failed sends are retried and visible; reminders go once."""

import socket

import pytest

from absurd_core import engine, spawn
from approvals.models import ApprovalRequest, ApprovalToken
from tests.helpers import WorkerProcess, subprocess_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = ("--queue", "demo", "--queue", "approvals", "--poll-interval", "0.1")


@pytest.fixture
def queues():
    for queue in ("demo", "approvals"):
        engine.drop_queue(queue)
        engine.create_queue(queue)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once the probe closes


def token_of(task_id):
    return ApprovalToken.objects.filter(request__task_id=task_id).first()


def test_a_failing_mail_server_is_retried_and_the_error_shows_on_the_request(queues):
    env = subprocess_env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(closed_port()),
        EMAIL_TIMEOUT="2",
    )
    spawned = spawn(
        "demo.expense_approval",
        {"amount": 1, "requester": "ann", "approvers": ["boss@example.com"]},
        tenant="acme",
    )
    with WorkerProcess(*WORKER, env=env):
        token = wait_for(
            lambda: (t := token_of(spawned.task_id)) and t.notify_attempts >= 2 and t, timeout=30
        )
    assert token.notified_at is None
    assert "ConnectionRefusedError" in token.notify_error
    kinds = list(token.request.events.values_list("kind", flat=True))
    assert kinds.count("notify_failed") >= 2
    # The request itself is untouched: still open, the workflow still waiting.
    assert ApprovalRequest.objects.get(pk=token.request_id).state == "pending"


def test_reminders_before_expiry_are_sent_once_each(queues):
    env = subprocess_env(APPROVAL_REMINDERS="3,2")  # 3 s and 2 s before expiry
    spawned = spawn(
        "demo.expense_approval",
        {"amount": 2, "requester": "ann", "approvers": ["boss@example.com"], "expires_in": 4},
        tenant="acme",
    )
    with WorkerProcess(*WORKER, env=env):

        def expired():
            result = engine.get_task_result("demo", spawned.task_id)
            return result if result.state == "completed" else None

        result = wait_for(expired, timeout=30)
        wait_for(lambda: token_of(spawned.task_id).reminders_sent == 2, timeout=10)
    assert result.result["outcome"] == "expired"
    token = token_of(spawned.task_id)
    kinds = list(token.request.events.values_list("kind", flat=True))
    assert kinds.count("notified") == 1 and kinds.count("reminded") == 2
