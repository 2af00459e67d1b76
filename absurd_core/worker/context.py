"""The context passed to task functions.

It is absurd-sdk's ``TaskContext`` (so ``step``, ``sleep_for``, ``sleep_until``,
``await_event``, ``emit_event`` and ``heartbeat`` keep upstream semantics),
built on the executing thread's own connection, plus a few read-only facts
about the run that task authors need.
"""

from __future__ import annotations

from typing import Any

import psycopg
from absurd_sdk import TaskContext
from psycopg.rows import dict_row


class ControlTaskContext(TaskContext):
    @property
    def queue(self) -> str:
        return self._queue_name

    @property
    def run_id(self) -> Any:
        return self._task["run_id"]

    @property
    def attempt(self) -> int:
        return int(self._task["attempt"])

    @property
    def task_name(self) -> str:
        return self._task["task_name"]

    @property
    def tenant(self) -> str | None:
        return (self._task.get("headers") or {}).get("tenant")

    def tenant_event_name(self, name: str) -> str:
        """The engine's name for event ``name`` emitted for this task's tenant (the API's)."""
        from absurd_core.events import tenant_event_name

        if not self.tenant:
            raise ValueError("This task has no tenant, so it has no tenant events.")
        return tenant_event_name(self.tenant, name)

    def await_tenant_event(
        self, name: str, step_name: str | None = None, timeout: int | None = None
    ) -> Any:
        """``await_event`` for an event the task's tenant emits (POST /api/v1/events)."""
        return self.await_event(self.tenant_event_name(name), step_name, timeout)


def build_context(
    conn: psycopg.Connection, queue: str, claimed: dict[str, Any], claim_timeout: int
) -> ControlTaskContext:
    """Build the run's context (as absurd-sdk does) with its checkpoints.

    The claim usually brought the checkpoints along (``claimed["checkpoints"]``);
    otherwise they are loaded here.
    """
    cache = claimed.pop("checkpoints", None)
    if cache is None:
        with conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "select checkpoint_name, state from absurd.get_task_checkpoint_states(%s, %s, %s)",
                (queue, claimed["task_id"], claimed["run_id"]),
            )
            cache = {row["checkpoint_name"]: row["state"] for row in cursor.fetchall()}
    ctx = object.__new__(ControlTaskContext)
    ctx.task_id = claimed["task_id"]
    ctx._conn = conn
    ctx._queue_name = queue
    ctx._task = claimed
    ctx._checkpoint_cache = cache
    ctx._claim_timeout = claim_timeout
    ctx._step_name_counter = {}
    return ctx
