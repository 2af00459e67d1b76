"""Isolation proof for task names: what tenant A can do by naming a task.

Task names are shared by every tenant (one registry), and some tasks take an
object id in their params. A tenant may spawn only the tasks meant for clients:
internal ones (approval delivery) are answered exactly like a name nobody
registered and are absent from the public schema; and an internal task spawned
some other way with another tenant's object id fails before it touches anything.
Tasks spawned without a tenant (by other clients) are the platform's to see.
"""

from datetime import timedelta

import psycopg
import pytest
from django.core import mail
from django.db import connection
from psycopg.rows import dict_row

from absurd_core import engine, spawn
from absurd_core.registry import registry
from absurd_core.worker.connection import connect
from absurd_core.worker.executor import Executor
from absurd_core.worker.runner import CLAIM_SQL
from approvals.delivery import send_link
from approvals.models import ApprovalEvent, ApprovalToken
from approvals.requests import create_request
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api
from tests.tenants.snapshot import assert_unchanged, tenant_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    for queue in ("demo", "approvals", "testq", "mixedq"):
        engine.drop_queue(queue)
        engine.create_queue(queue)
    a = Tenant.objects.create(slug="acme", name="Acme")
    b = Tenant.objects.create(slug="globex", name="Globex")
    b_task = spawn("demo.two_steps", {"i": 1}, tenant=b.slug)
    b_request = create_request(
        tenant=b.slug,
        queue="demo",
        task_id=b_task.task_id,
        run_id=None,
        task_name="demo.two_steps",
        step_key="approval-request",
        title="Pay Globex's invoice",
        description="",
        approvers=["boss@globex.example"],
        policy="any",
        expires_in=timedelta(hours=1),
        context={},
        reject_on_expiry=True,
    )
    # B's link went out as approvals.deliver sends it; B's delivery task is done with, so
    # the only approvals.deliver left to run below is the attacker's.
    send_link(b_request.tokens.get().pk, "request")
    engine.drop_queue("approvals")
    engine.create_queue("approvals")
    mail.outbox.clear()
    return {
        "a": a,
        "b": b,
        "a_key": issue_key(a, "a-ops", role="admin").key,
        "b_request": b_request,
    }


def test_spawning_approvals_deliver_through_the_api_is_404_and_touches_nothing_of_b(world):
    before = tenant_snapshot("globex")
    body = {"task": "approvals.deliver", "params": {"request_id": world["b_request"].pk}}
    answer = api("post", "/tasks", world["a_key"], body)
    unknown = api("post", "/tasks", world["a_key"], {**body, "task": "approvals.nothing"})
    assert answer.status_code == unknown.status_code == 404
    # Word for word what an unknown name gets: nothing tells A the name exists.
    assert answer.json()["detail"] == "No task named 'approvals.deliver' is registered."
    assert answer.json().keys() == unknown.json().keys()
    assert engine.fetch_all("select count(*) from absurd.t_approvals", (), "default")[0][0] == 0
    assert_unchanged(before, tenant_snapshot("globex"))
    assert mail.outbox == []


def _claim_and_run(queue: str) -> str:
    conn = connect(application_name="isolation-test")
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                CLAIM_SQL, {"queue": queue, "worker": "isolation-test", "timeout": 60, "qty": 1}
            )
            (run,) = cursor.fetchall()
        return Executor(conn, registry, 60).run(queue, run).status
    finally:
        conn.close()


@pytest.mark.parametrize("request_id", ["b", 10**9, "7", None])
def test_approvals_deliver_with_a_foreign_request_id_fails_without_side_effects(world, request_id):
    """Spawned by other means (our spawn(), raw SQL, absurdctl) with A's tenant and B's id."""
    b_id = world["b_request"].pk if request_id == "b" else request_id
    tokens_before = list(ApprovalToken.objects.order_by("pk").values())
    events_before = ApprovalEvent.objects.count()
    before = tenant_snapshot("globex")
    attack = spawn("approvals.deliver", {"request_id": b_id}, tenant="acme")
    assert _claim_and_run("approvals") == "failed"
    failure = engine.get_task_result("approvals", attack.task_id)
    assert failure.state in ("sleeping", "pending")  # retried later, to the same end
    assert_unchanged(before, tenant_snapshot("globex"))
    assert mail.outbox == []  # no link to B's approver
    assert list(ApprovalToken.objects.order_by("pk").values()) == tokens_before  # no rotation
    assert ApprovalEvent.objects.count() == events_before  # no audit row, of anyone


def test_a_tenants_own_delivery_still_works_and_names_its_actor(world):
    task = spawn("demo.two_steps", {"i": 2}, tenant="acme")
    create_request(
        tenant="acme",
        queue="demo",
        task_id=task.task_id,
        run_id=None,
        task_name="demo.two_steps",
        step_key="approval-request",
        title="Pay Acme's invoice",
        description="",
        approvers=["boss@acme.example"],
        policy="any",
        expires_in=timedelta(hours=1),
        context={},
        reject_on_expiry=True,
    )
    assert _claim_and_run("approvals") == "completed"
    assert [m.to for m in mail.outbox] == [["boss@acme.example"]]
    # Every audit row names who acted: the delivery task, never an empty actor.
    assert not ApprovalEvent.objects.filter(actor="").exists()
    assert ApprovalEvent.objects.filter(kind="notified", actor="task:approvals.deliver").exists()


def test_internal_task_names_are_absent_from_the_public_schema(world):
    schema = api("get", "/openapi.json").json()
    names = schema["components"]["schemas"]["SpawnIn"]["properties"]["task"]["enum"]
    internal = [spec.name for spec in registry if spec.internal]
    assert "approvals.deliver" in internal
    assert "demo.two_steps" in names and "test.external_charge" in names
    assert not set(internal) & set(names)
    assert "approvals.deliver" not in str(schema)


def test_every_task_name_a_tenant_can_type_leaves_b_unchanged(world):
    """Every registered name and a few that are not: spawn it and list by it, as A."""
    before = tenant_snapshot("globex")
    names = [spec.name for spec in registry] + ["approvals.deliver ", "APPROVALS.DELIVER", ""]
    for name in names:
        spec = registry.get(name)
        answer = api("post", "/tasks", world["a_key"], {"task": name, "params": {"i": 1}})
        if spec is None or spec.internal:
            assert answer.status_code in (404, 422), name
        else:
            assert answer.status_code in (201, 409), (name, answer.json())
        listed = api("get", f"/tasks?task={name}&limit=200", world["a_key"])
        if listed.status_code == 200:
            assert all(
                item["task_id"] != str(world["b_request"].task_id)
                for item in listed.json()["items"]
            )
    assert_unchanged(before, tenant_snapshot("globex"))
    assert mail.outbox == []
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_approvals")
        assert cursor.fetchone()[0] == 0


def _tenantless_task():
    """A task spawned by another client without a tenant header (absurdctl spawn-task)."""
    with psycopg.connect(**_raw_params(), autocommit=True) as conn:
        return conn.execute(
            "select task_id from absurd.spawn_task('demo', 'demo.two_steps', '{\"i\": 3}', '{}')"
        ).fetchone()[0]


def _raw_params():
    s = connection.settings_dict
    return {
        "dbname": s["NAME"],
        "user": s["USER"],
        "password": s.get("PASSWORD") or None,
        "host": s["HOST"] or None,
        "port": s["PORT"] or None,
    }


def test_a_platform_key_sees_tenantless_tasks_and_an_ordinary_key_does_not(world):
    platform = Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    platform_key = issue_key(platform, "ops-read", role="viewer").key
    task_id = str(_tenantless_task())

    listed = api("get", "/tasks?queue=demo", platform_key).json()["items"]
    assert task_id in [item["task_id"] for item in listed]
    assert api("get", f"/tasks/{task_id}", platform_key).status_code == 200
    history = api("get", f"/tasks/{task_id}/history", platform_key).json()
    assert [row["kind"] for row in history][:1] == ["spawned"]

    for key in (world["a_key"], issue_key(world["b"], "b-ops", role="operator").key):
        listed = api("get", "/tasks?queue=demo", key).json()["items"]
        assert task_id not in [item["task_id"] for item in listed]
        assert api("get", f"/tasks/{task_id}", key).status_code == 404
        assert api("get", f"/tasks/{task_id}/history", key).status_code == 404
        assert api("post", f"/tasks/{task_id}/cancel", key).status_code == 404
    assert engine.get_task_result("demo", task_id).state == "pending"
