"""Isolation proof for what tenants share by *name*: events and approval ids.

Absurd's event names belong to a queue, and the first emit of a name wins for good,
so a name is a shared thing. Tenant A attacks tenant B through every way to name an
event: its task waits for B's namespaced name or for a raw name B's task awaits and
emits it from A's own task page; its task arrives late to read B's emitted event or
B's approval decision (old ``approval:<id>`` names, the new form's guessable parts,
even the full recorded name). After each attack B's data is byte-for-byte unchanged
(tests/tenants/snapshot.py), and B's own later emit is the one B's task receives.

Tasks run in this process through the worker's own claim and executor (the real
task context), on a real database.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from psycopg.rows import dict_row

from absurd_core import engine, spawn
from absurd_core.registry import registry
from absurd_core.worker.connection import connect
from absurd_core.worker.executor import Executor
from absurd_core.worker.runner import CLAIM_SQL
from approvals.decisions import decide
from approvals.models import ApprovalRequest
from approvals.requests import create_request
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.helpers import api
from tests.tenants.snapshot import assert_unchanged, tenant_snapshot

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "demo"
B_SECRET = {"paid_by": "b-card-4242", "amount": 990}


class InProcessWorker:
    """Claims and runs every due task of the queue here, as runworker's threads do."""

    def __init__(self):
        self.conn = connect(application_name="isolation-events")
        self.executor = Executor(self.conn, registry, 60)

    def close(self):
        self.conn.close()

    def run_due(self) -> None:
        while True:
            with self.conn.cursor(row_factory=dict_row) as cursor:
                params = {"queue": QUEUE, "worker": "iso-worker", "timeout": 60, "qty": 10}
                cursor.execute(CLAIM_SQL, params)
                claimed = [row for row in cursor.fetchall() if row["admitted"]]
            if not claimed:
                return
            for row in claimed:
                self.executor.run(QUEUE, row)


@pytest.fixture
def world():
    engine.drop_queue(QUEUE)
    engine.create_queue(QUEUE)
    engine.create_queue("approvals")
    a = Tenant.objects.create(slug="ta", name="A")
    b = Tenant.objects.create(slug="tb", name="B")
    user = get_user_model().objects.create_user("a-op", password="pw-long-12345")
    Membership.objects.create(user=user, tenant=a, role="operator")
    client = Client()
    client.force_login(user)
    worker = InProcessWorker()
    yield {
        "a": a,
        "b": b,
        "a_client": client,
        "a_key": issue_key(a, "a-key", role="operator").key,
        "b_key": issue_key(b, "b-key", role="operator").key,
        "worker": worker,
    }
    worker.close()


def state(task_id) -> str:
    return engine.get_task_result(QUEUE, task_id).state


def waits_for(task_id) -> str | None:
    """The event the task's current run waits for, as the engine stores it."""
    with connection.cursor() as cursor:
        cursor.execute("select event_name from absurd.w_demo where task_id = %s", [task_id])
        row = cursor.fetchone()
    return row[0] if row else None


def emitted(name: str):
    with connection.cursor() as cursor:
        cursor.execute(
            "select payload from absurd.e_demo where event_name = %s and payload is not null",
            [name],
        )
        row = cursor.fetchone()
    return engine.load_json(row[0]) if row else None


def dashboard_emit(client: Client, task_id, payload) -> int:
    """What A's operator does on A's own task page: emit the event shown there."""
    shown = waits_for(task_id)
    response = client.post(
        reverse("dashboard:task_emit", args=[task_id]),
        {"event": shown, "payload": json.dumps(payload), "confirmed": "1"},
    )
    return response.status_code


def test_a_cannot_wake_or_poison_bs_namespaced_wait_from_the_dashboard(world):
    worker = world["worker"]
    # B's task waits for B's event order-1:paid, i.e. tenant:tb:order-1:paid.
    b_task = spawn("demo.wait_event", {"event": "order-1:paid", "tenant_event": True}, tenant="tb")
    worker.run_due()
    assert waits_for(b_task.task_id) == "tenant:tb:order-1:paid"
    # A's task names B's event; A's operator then emits what A's task page shows.
    a_task = spawn("demo.wait_event", {"event": "tenant:tb:order-1:paid"}, tenant="ta")
    worker.run_due()
    before = tenant_snapshot("tb")
    assert dashboard_emit(world["a_client"], a_task.task_id, {"paid_by": "attacker"}) == 302
    worker.run_due()
    assert_unchanged(before, tenant_snapshot("tb"))
    assert state(b_task.task_id) == "sleeping"
    assert emitted("tenant:tb:order-1:paid") is None  # the name is still B's to emit first
    # A's emit only reached A's own namespace: A's task completed with A's payload.
    assert engine.get_task_result(QUEUE, a_task.task_id).result == {"paid_by": "attacker"}
    # B's own later emit wins.
    body = {"queue": QUEUE, "name": "order-1:paid", "payload": B_SECRET}
    response = api("post", "/events", world["b_key"], body)
    assert response.status_code == 201 and response.json()["woken"] == 1
    worker.run_due()
    assert engine.get_task_result(QUEUE, b_task.task_id).result == B_SECRET


def foreign_wait(name: str, tenant: str):
    """A task of ``tenant`` asleep on ``name`` as another Absurd client (raw SQL, TypeScript)
    leaves it: no context of ours added or checked anything."""
    task = engine.spawn_task(QUEUE, "demo.wait_event", {"event": name}, headers={"tenant": tenant})
    with connection.cursor() as cursor:
        cursor.execute(
            "select run_id from absurd.claim_task(%s, 'ts-worker', 60, 10) where task_id = %s",
            [QUEUE, task.task_id],
        )
        run_id = cursor.fetchone()[0]
        cursor.execute(
            "select * from absurd.await_event(%s, %s, %s, 'wait', %s, null)",
            [QUEUE, task.task_id, run_id, name],
        )
    return task.task_id


def test_a_cannot_wake_a_raw_name_b_awaits_through_its_own_task(world):
    worker = world["worker"]
    b_task = foreign_wait("shipment-9", "tb")
    # A's task (run by our worker) names B's raw event: it waits in A's namespace instead.
    a_task = spawn("demo.wait_event", {"event": "shipment-9"}, tenant="ta")
    worker.run_due()
    assert waits_for(a_task.task_id) == "tenant:ta:shipment-9"
    before = tenant_snapshot("tb")
    assert dashboard_emit(world["a_client"], a_task.task_id, "poison") == 302
    assert_unchanged(before, tenant_snapshot("tb"))
    assert state(b_task) == "sleeping" and emitted("shipment-9") is None


@pytest.mark.parametrize("name", ["shipment-9", "tenant:tb:order-1:paid"])
def test_a_cannot_emit_bs_name_even_when_its_own_task_waits_for_it(world, name):
    """A's task waits for B's raw or namespaced name outside our context (raw SQL, another
    client): the dashboard checks the wait against A's namespace and refuses."""
    b_task = foreign_wait(name, "tb")
    a_task = foreign_wait(name, "ta")
    page = world["a_client"].get(reverse("dashboard:task", args=[a_task])).content.decode()
    assert 'name="payload"' not in page and "outside its tenant" in page
    before = tenant_snapshot("tb")
    assert dashboard_emit(world["a_client"], a_task, "poison") == 403
    assert_unchanged(before, tenant_snapshot("tb"))
    assert state(b_task) == "sleeping" and emitted(name) is None


def test_a_late_waiter_cannot_read_bs_emitted_event(world):
    worker = world["worker"]
    response = api(
        "post", "/events", world["b_key"], {"queue": QUEUE, "name": "b-evt", "payload": B_SECRET}
    )
    assert response.json()["event_name"] == "tenant:tb:b-evt"
    before = tenant_snapshot("tb")
    names = ["tenant:tb:b-evt", "b-evt"]
    tasks = [spawn("demo.wait_event", {"event": n}, tenant="ta").task_id for n in names]
    worker.run_due()
    for task_id in tasks:
        # Still waiting, in A's namespace: nothing of B's was handed over.
        assert state(task_id) == "sleeping"
        assert waits_for(task_id).startswith("tenant:ta:")
    assert_unchanged(before, tenant_snapshot("tb"))


def _decided_request_of_b(worker: InProcessWorker, legacy: bool) -> ApprovalRequest:
    """B's expense workflow asks for approval, is approved (with a comment) and completes."""
    params = {"amount": 990, "requester": "bob", "approvers": ["boss@b.example"]}
    b_task = spawn("demo.expense_approval", params, tenant="tb")
    if legacy:
        # A request made before issue 14, which migration 0002 gave its old name approval:<id>:
        # the workflow finds it (one request per step) and must wait for that name.
        request = create_request(
            tenant="tb", queue=QUEUE, task_id=b_task.task_id, run_id=None,
            task_name="demo.expense_approval", step_key="approval-request", title="B's buy",
            description="", approvers=["boss@b.example"], policy="any",
            expires_in=timedelta(hours=1), context={}, reject_on_expiry=True,
        )  # fmt: skip
        ApprovalRequest.objects.filter(pk=request.pk).update(event_name=f"approval:{request.pk}")
    worker.run_due()
    request = ApprovalRequest.objects.get(task_id=b_task.task_id)
    assert waits_for(b_task.task_id) == request.event_name
    assert request.event_name == f"approval:{request.pk}" if legacy else request.event_name
    token = request.tokens.get()
    decide(token.pk, "approve", comment="B's confidential comment", via="boss@b.example")
    worker.run_due()
    result = engine.get_task_result(QUEUE, b_task.task_id)
    assert result.state == "completed" and result.result["status"] == "paid"
    assert emitted(request.event_name)["answers"][0]["comment"] == "B's confidential comment"
    return request


@pytest.mark.parametrize("legacy", [False, True], ids=["random-name", "old-approval-id"])
def test_a_late_waiter_cannot_read_bs_approval_decision(world, legacy):
    worker = world["worker"]
    request = _decided_request_of_b(worker, legacy)
    task_id = request.task_id
    guesses = [
        f"approval:{request.pk}",  # the old, sequential form
        f"approval:{task_id}",  # the new form's guessable part: the task id
        f"approval:{request.pk}:{task_id}",
        request.event_name,  # even the full recorded name, had it leaked
    ]
    before = tenant_snapshot("tb")
    tasks = [spawn("demo.wait_event", {"event": g}, tenant="ta").task_id for g in guesses]
    worker.run_due()
    for task_id in tasks:
        assert state(task_id) == "sleeping", engine.get_task_result(QUEUE, task_id).result
        assert waits_for(task_id).startswith("tenant:ta:approval:")
    assert_unchanged(before, tenant_snapshot("tb"))


def test_new_approval_names_are_random_and_bound_to_the_task(world):
    names = set()
    for _ in range(2):
        b_task = spawn("demo.two_steps", {"i": 1}, tenant="tb")
        request = create_request(
            tenant="tb", queue=QUEUE, task_id=b_task.task_id, run_id=None,
            task_name="demo.two_steps", step_key="approval-request", title="t",
            description="", approvers=["boss@b.example"], policy="any",
            expires_in=timedelta(hours=1), context={}, reject_on_expiry=True,
        )  # fmt: skip
        prefix, random_part, bound_to = request.event_name.split(":")
        assert (prefix, bound_to) == ("approval", str(b_task.task_id))
        assert len(random_part) >= 22
        names.add(random_part)
    assert len(names) == 2
