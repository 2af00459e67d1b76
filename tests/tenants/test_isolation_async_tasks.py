"""What tenant A's ``async def`` task can do with tenant B's event names: nothing.

The async context takes its rules from the same place as the sync one
(absurd_core/worker/context.py, TenantEventRules); these tests drive it on a real
claimed run over a real AsyncConnection, as the worker's event loop does.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from absurd_sdk import SuspendTask
from django.db import connection
from psycopg import sql
from psycopg.rows import dict_row

from absurd_core import engine
from absurd_core.worker.async_context import AsyncControlTaskContext, build_async_context
from absurd_core.worker.connection import connect_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue():
    name = f"q_{uuid.uuid4().hex[:12]}"
    engine.create_queue(name)
    yield name
    engine.drop_queue(name)


def _names(queue, table):
    query = sql.SQL("select event_name from absurd.{}").format(sql.Identifier(f"{table}_{queue}"))
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection))
        return {row[0] for row in cursor.fetchall()}


def run_as(queue, tenant, body):
    """Claim a fresh run of ``tenant`` on ``queue`` and call ``body(ctx)`` on its async context."""
    task_id = engine.spawn_task(queue, "test.async_emit", {}, headers={"tenant": tenant}).task_id

    async def main():
        conn = await connect_async(application_name="isolation-test")
        try:
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(
                    "select * from absurd.claim_task(%s, 'iso', 60, 10) where task_id = %s",
                    (queue, task_id),
                )
                claimed = await cursor.fetchone()
            ctx = await build_async_context(conn, queue, claimed, 60)
            assert isinstance(ctx, AsyncControlTaskContext)
            return await body(ctx)
        finally:
            await conn.close()

    # A loop of its own, in a thread: another test's loop may be running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_a_tenants_async_task_emits_only_in_its_namespace(queue):
    async def body(ctx):
        await ctx.emit_event("tenant:globex:paid", {"forged": True})
        await ctx.emit_event("approval:7", {"forged": True})
        await ctx.emit_event("shipped", 1)

    run_as(queue, "acme", body)
    assert _names(queue, "e") == {
        "tenant:acme:tenant:globex:paid",
        "tenant:acme:approval:7",
        "tenant:acme:shipped",
    }


def test_a_tenants_async_task_cannot_read_another_tenants_event(queue):
    engine.emit_event(queue, "tenant:globex:secret", {"globex": "only"})
    engine.emit_event(queue, "tenant:acme:mine", {"acme": True})

    async def body(ctx):
        mine = await ctx.await_event("mine")
        with pytest.raises(SuspendTask):
            await ctx.await_event("tenant:globex:secret")
        return mine

    assert engine.load_json(run_as(queue, "acme", body)) == {"acme": True}
    assert "tenant:acme:tenant:globex:secret" in _names(queue, "w")


def test_the_async_system_path_awaits_only_names_bound_to_this_task(queue):
    other = uuid.uuid4()

    async def body(ctx):
        for name in (f"approval:Zr0dM8d7kqVbYq3mWcQ2aA:{other}", "tenant:globex:x", "go"):
            with pytest.raises(ValueError, match="not a system event owed to this task"):
                await ctx._await_system_event(name)
        return ctx.task_id

    run_as(queue, "acme", body)
    assert _names(queue, "w") == set()
