"""request_approval() inside a real worker: approve, expire, and a race of ten POSTs."""

import threading

import pytest
from django.db import connection
from django.test import Client

from absurd_core import engine, spawn
from approvals.models import ApprovalRequest, ApprovalToken
from tests.approvals.conftest import links_for
from tests.helpers import WorkerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = ("--queue", "demo", "--queue", "approvals", "--poll-interval", "0.1")


@pytest.fixture
def demo():
    engine.create_queue("demo")


def result_of(task_id):
    result = engine.get_task_result("demo", task_id)
    return result if result.state in ("completed", "failed", "cancelled") else None


def waiting_request(task_id) -> ApprovalRequest:
    """The request, once the workflow waits on it and its links went out."""

    def ready():
        request = ApprovalRequest.objects.filter(task_id=task_id).first()
        if request is None or ApprovalToken.objects.filter(request=request, notified_at=None):
            return None
        return request if engine.get_task_result("demo", task_id).state == "sleeping" else None

    return wait_for(ready, timeout=30)


def test_approve_resumes_the_workflow_with_the_approver(demo):
    spawned = spawn(
        "demo.expense_approval",
        {"amount": 120, "requester": "ann", "approvers": ["boss@example.com"]},
        tenant="acme",
    )
    with WorkerProcess(*WORKER):
        request = waiting_request(spawned.task_id)
        assert request.title == "Expense of 120 for ann" and request.tenant == "acme"
        links = links_for(request)
        response = Client().post(f"/approvals/{links['boss@example.com']}", {"decision": "approve"})
        assert response.status_code == 200
        result = wait_for(lambda: result_of(spawned.task_id))
    assert result.state == "completed"
    assert result.result["status"] == "paid"
    assert result.result["decided_by"] == ["boss@example.com"]


def test_expiry_reaches_the_workflow_and_links_stop_working(demo):
    spawned = spawn(
        "demo.expense_approval",
        {"amount": 5, "requester": "ann", "approvers": ["boss@example.com"], "expires_in": 1},
        tenant="acme",
    )
    with WorkerProcess(*WORKER) as worker:
        request = waiting_request(spawned.task_id)
        result = wait_for(lambda: result_of(spawned.task_id))
    assert result.state == "completed", (result.failure, worker.output[-3000:])
    assert result.result["outcome"] == "expired" and result.result["status"] == "expired"
    request.refresh_from_db()
    assert request.state == "expired" and request.decided_by == "expiry"
    assert ApprovalToken.objects.get(request=request).revoked_at is not None


def test_ten_concurrent_posts_make_one_decision_one_event_one_resumed_workflow(demo):
    spawned = spawn(
        "demo.expense_approval",
        {"amount": 7, "requester": "ann", "approvers": ["boss@example.com"]},
        tenant="acme",
    )
    with WorkerProcess(*WORKER) as worker:
        request = waiting_request(spawned.task_id)
        url = f"/approvals/{links_for(request)['boss@example.com']}"
        barrier = threading.Barrier(10)
        statuses: list[int] = []

        def post():
            client = Client()
            barrier.wait()
            statuses.append(client.post(url, {"decision": "approve"}).status_code)
            connection.close()

        threads = [threading.Thread(target=post) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = wait_for(lambda: result_of(spawned.task_id))
    assert sorted(statuses) == [200] + [410] * 9
    assert result.state == "completed" and result.result["status"] == "paid"
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd.e_demo where event_name = %s", [request.event_name]
        )
        assert cursor.fetchone()[0] == 1
    assert request.events.filter(kind="answered").count() == 1
    assert worker.output.count(f"task.completed task_id={spawned.task_id}") == 1
