"""The task context names events for the task's tenant, whatever absurd-sdk call is used.

Each test claims a real run and builds the worker's context on the test's own
connection, then calls the SDK methods as task code would.
"""

from __future__ import annotations

import uuid

import pytest
from absurd_sdk import SuspendTask
from absurd_sdk import TimeoutError as WaitTimedOut
from django.db import connection
from psycopg import sql
from psycopg.rows import dict_row

from absurd_core import engine
from absurd_core.event_names import system_event_bound_to, tenant_event_name
from absurd_core.worker.context import ControlTaskContext, build_context

pytestmark = pytest.mark.django_db


def claim(queue: str, task_id) -> dict:
    connection.ensure_connection()
    with connection.connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "select * from absurd.claim_task(%s, 'ctx-test', 60, 10) where task_id = %s",
            [queue, task_id],
        )
        claimed = cursor.fetchone()
    # Django's connection hands jsonb over as text; the worker's decodes it.
    for key in ("params", "headers", "event_payload"):
        claimed[key] = engine.load_json(claimed[key])
    return claimed


def claimed_context(queue: str, tenant: str | None = "acme") -> ControlTaskContext:
    headers = {"tenant": tenant} if tenant else {}
    task_id = engine.spawn_task(queue, "test.wait_event", {}, headers=headers).task_id
    return build_context(connection.connection, queue, claim(queue, task_id), 60)


def wait_row(queue: str, task_id) -> tuple[str, str] | None:
    query = sql.SQL("select event_name, step_name from absurd.{} where task_id = %s")
    with connection.cursor() as cursor:
        table = sql.Identifier(f"w_{queue}")
        cursor.execute(query.format(table).as_string(cursor.connection), [task_id])
        return cursor.fetchone()


def emitted_names(queue: str) -> set[str]:
    query = sql.SQL("select event_name from absurd.{} where payload is not null")
    with connection.cursor() as cursor:
        cursor.execute(query.format(sql.Identifier(f"e_{queue}")).as_string(cursor.connection))
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize(
    "name, engine_name",
    [
        ("order-1:paid", "tenant:acme:order-1:paid"),
        ("tenant:globex:order-1:paid", "tenant:acme:tenant:globex:order-1:paid"),
        ("approval:6", "tenant:acme:approval:6"),
        ("tenant:acme:order-1:paid", "tenant:acme:order-1:paid"),  # already ours: kept
    ],
)
def test_a_tenants_await_event_waits_in_its_namespace(queue_name, name, engine_name):
    ctx = claimed_context(queue_name)
    with pytest.raises(SuspendTask):
        ctx.await_event(name)
    # The step keeps the author's name (so waits from before the prefix resume).
    assert wait_row(queue_name, ctx.task_id) == (engine_name, f"$awaitEvent:{name}")


def test_a_tenants_await_event_returns_its_own_emitted_event_only(queue_name):
    engine.emit_event(queue_name, "tenant:globex:b-evt", {"secret": "globex"})
    engine.emit_event(queue_name, "tenant:acme:a-evt", {"mine": True})
    ctx = claimed_context(queue_name)
    assert engine.load_json(ctx.await_event("a-evt")) == {"mine": True}
    with pytest.raises(SuspendTask):
        ctx.await_event("tenant:globex:b-evt")


def test_a_tenants_emit_event_emits_in_its_namespace_without_double_prefix(queue_name):
    ctx = claimed_context(queue_name)
    ctx.emit_event("shipped", {"n": 1})
    ctx.emit_event(ctx.tenant_event_name("packed"), {"n": 2})  # the old, deprecated spelling
    ctx.emit_event("approval:7", {"forged": True})
    assert emitted_names(queue_name) == {
        "tenant:acme:shipped",
        "tenant:acme:packed",
        "tenant:acme:approval:7",
    }


def test_await_tenant_event_still_works_and_keeps_its_step_name(queue_name):
    ctx = claimed_context(queue_name)
    with pytest.raises(SuspendTask):
        ctx.await_tenant_event("go")
    assert wait_row(queue_name, ctx.task_id) == ("tenant:acme:go", "$awaitEvent:tenant:acme:go")
    assert ctx.tenant_event_name("tenant:acme:go") == "tenant:acme:go"


def test_a_task_without_a_tenant_uses_raw_names_but_never_system_ones(queue_name):
    ctx = claimed_context(queue_name, tenant=None)
    ctx.emit_event("deploy:done", 1)
    assert emitted_names(queue_name) == {"deploy:done"}
    for call in (lambda: ctx.await_event("approval:6"), lambda: ctx.emit_event("approval:6")):
        with pytest.raises(ValueError, match="system event"):
            call()
    with pytest.raises(SuspendTask):
        ctx.await_event("deploy:next")
    assert wait_row(queue_name, ctx.task_id) == ("deploy:next", "$awaitEvent:deploy:next")


def test_the_system_path_awaits_only_names_bound_to_this_task(queue_name):
    ctx = claimed_context(queue_name)
    other_task = uuid.uuid4()
    for name in (f"approval:Zr0dM8d7kqVbYq3mWcQ2aA:{other_task}", "order-1:paid", "tenant:x:y"):
        with pytest.raises(ValueError, match="not a system event owed to this task"):
            ctx._await_system_event(name)
    mine = f"approval:Zr0dM8d7kqVbYq3mWcQ2aA:{ctx.task_id}"
    with pytest.raises(SuspendTask):
        ctx._await_system_event(mine)
    assert wait_row(queue_name, ctx.task_id) == (mine, f"$awaitEvent:{mine}")


def test_a_raw_wait_from_before_the_upgrade_that_timed_out_raises_timeout(queue_name):
    """A wait begun by older code on the raw name: its timeout still reaches the task code."""
    ctx = claimed_context(queue_name)
    with connection.cursor() as cursor:
        cursor.execute(
            "select * from absurd.await_event(%s, %s, %s, '$awaitEvent:go', 'go', 0)",
            [queue_name, ctx.task_id, ctx.run_id],
        )
    claimed = claim(queue_name, ctx.task_id)  # due at once: the wait timed out
    assert (claimed["wake_event"], claimed["event_payload"]) == ("go", None)
    ctx = build_context(connection.connection, queue_name, claimed, 60)
    with pytest.raises(WaitTimedOut):
        ctx.await_event("go")


def test_a_raw_wait_from_before_the_upgrade_resumes_when_the_platform_emits_it(queue_name):
    """The step name is unchanged, so the checkpoint the raw emit wrote is found."""
    ctx = claimed_context(queue_name)
    with connection.cursor() as cursor:
        cursor.execute(
            "select * from absurd.await_event(%s, %s, %s, '$awaitEvent:go', 'go', null)",
            [queue_name, ctx.task_id, ctx.run_id],
        )
    engine.emit_event(queue_name, "go", {"late": "but here"})  # a platform key's raw emit
    ctx = build_context(connection.connection, queue_name, claim(queue_name, ctx.task_id), 60)
    assert engine.load_json(ctx.await_event("go")) == {"late": "but here"}


def test_name_rules():
    assert tenant_event_name("acme", "x") == "tenant:acme:x"
    assert tenant_event_name("acme", "tenant:acme:x") == "tenant:acme:x"
    assert tenant_event_name("acme", "tenant:acmex:x") == "tenant:acme:tenant:acmex:x"
    task = uuid.uuid4()
    assert system_event_bound_to(f"approval:abc:{task}", task)
    assert system_event_bound_to("approval:12", task)  # the old form, for upgrades
    assert not system_event_bound_to(f"approval:abc:{uuid.uuid4()}", task)
    assert not system_event_bound_to(f"tenant:a:approval:abc:{task}", task)
