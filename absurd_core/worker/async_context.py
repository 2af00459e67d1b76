"""The context passed to ``async def`` tasks.

absurd-sdk's ``AsyncTaskContext`` (``await ctx.step(...)``, ``await ctx.sleep_for(...)``,
``await ctx.await_event(...)``, ``await ctx.emit_event(...)``, ``await ctx.heartbeat()``
keep upstream semantics) with the same facts and event-name rules as the sync
``ControlTaskContext``: both take them from ``TenantEventRules`` (context.py), so a
tenant's async task, too, awaits and emits only its tenant's events.
"""

from __future__ import annotations

from typing import Any

import psycopg
from absurd_sdk import AsyncTaskContext
from psycopg.rows import dict_row

from absurd_core.worker.context import CHECKPOINTS_SQL, TenantEventRules, fill_context


class AsyncControlTaskContext(TenantEventRules, AsyncTaskContext):
    """absurd-sdk's async context, with event names owned by the task's tenant."""

    async def await_event(
        self, event_name: str, step_name: str | None = None, timeout: int | None = None
    ) -> Any:
        """Wait for this task's tenant's event ``event_name`` (a raw name without a tenant)."""
        engine_name, step_name = self._awaited(event_name, step_name)
        return await super().await_event(engine_name, step_name, timeout)

    async def emit_event(self, event_name: str, payload: Any = None) -> None:
        """Emit this task's tenant's event ``event_name`` (a raw name without a tenant)."""
        await super().emit_event(self._emitted(event_name), payload)

    async def _await_system_event(
        self, event_name: str, step_name: str | None = None, timeout: int | None = None
    ) -> Any:
        """Await a system event owed to this task; not for task code (see context.py)."""
        return await super().await_event(*self._system_awaited(event_name, step_name), timeout)


async def build_async_context(
    conn: psycopg.AsyncConnection, queue: str, claimed: dict[str, Any], claim_timeout: int
) -> AsyncControlTaskContext:
    """Build the run's async context with its checkpoints (from the claim, or loaded here)."""
    cache = claimed.pop("checkpoints", None)
    if cache is None:
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(CHECKPOINTS_SQL, (queue, claimed["task_id"], claimed["run_id"]))
            cache = {row["checkpoint_name"]: row["state"] for row in await cursor.fetchall()}
    return fill_context(AsyncControlTaskContext, conn, queue, claimed, cache, claim_timeout)
