"""The context passed to ``async def`` tasks.

absurd-sdk's ``AsyncTaskContext`` (``await ctx.step(...)``, ``await ctx.sleep_for(...)``,
``await ctx.await_event(...)``, ``await ctx.emit_event(...)``, ``await ctx.heartbeat()``
keep upstream semantics) with the same facts and event-name rules as the sync
``ControlTaskContext``: both take them from ``TenantEventRules`` (context.py), so a
tenant's async task, too, awaits and emits only its tenant's events.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from absurd_sdk import _CHECKPOINT_NOT_FOUND as _NOT_FOUND
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

    # The lease: look-ups it makes redundant are skipped, as in the sync context.

    async def _lookup_checkpoint(self, checkpoint_name: str) -> Any:
        if self._cache_is_complete(checkpoint_name):
            return _NOT_FOUND
        return await super()._lookup_checkpoint(checkpoint_name)

    async def _persist_checkpoint(self, checkpoint_name: str, value: Any) -> None:
        sent = time.monotonic()
        await super()._persist_checkpoint(checkpoint_name, value)
        if self._lease is not None:
            self._lease.renewed(sent)

    async def heartbeat(self, seconds: int | None = None) -> None:
        sent = time.monotonic()
        await super().heartbeat(seconds)
        if self._lease is not None:
            self._lease.renewed(sent, seconds)

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
