"""The context passed to task functions.

It is absurd-sdk's ``TaskContext`` (so ``step``, ``sleep_for``, ``sleep_until``,
``await_event``, ``emit_event`` and ``heartbeat`` keep upstream semantics, except
that a task with a tenant names only its tenant's events), built on the executing
thread's own connection, plus a few read-only facts about the run that task
authors need.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from absurd_sdk import _CHECKPOINT_NOT_FOUND as _NOT_FOUND
from absurd_sdk import SuspendTask, TaskContext
from absurd_sdk import TimeoutError as WaitTimedOut
from psycopg.rows import dict_row

from absurd_core import children as kids
from absurd_core.errors import RateLimited
from absurd_core.event_names import system_event_bound_to, task_event_name, tenant_event_name
from absurd_core.worker.lease_clock import LeaseClock


class TenantEventRules:
    """The facts and event-name rules both contexts share (sync and async).

    A task with a tenant awaits and emits only ``tenant:<slug>:<name>``, whatever it
    calls, so a name taken from params cannot reach another tenant's events or a
    system event (absurd_core.event_names). Tasks without a tenant keep raw names,
    except system ones. System events (an approval's decision) are awaited only
    through ``_await_system_event``, which accepts names bound to this task.
    """

    _queue_name: str
    _task: dict[str, Any]
    _checkpoint_cache: dict[str, Any]
    task_id: Any
    #: This process's lease on the run (worker/lease_clock.py); None outside runworker.
    _lease: LeaseClock | None = None

    def _cache_is_complete(self, checkpoint_name: str) -> bool:
        """True when a look-up of ``checkpoint_name`` can only find nothing.

        The cache holds what the claim loaded plus what this run wrote; while this
        process holds the run's lease no other run of the task can write a checkpoint
        (docs/worker.md, "Checkpoint look-ups under a held lease"). Without a known
        valid lease (a zombie run, a context built elsewhere) upstream's read happens.
        """
        return (
            checkpoint_name not in self._checkpoint_cache
            and self._lease is not None
            and self._lease.held()
        )

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
        tenant = (self._task.get("headers") or {}).get("tenant")
        return tenant if isinstance(tenant, str) and tenant else None

    def event_name(self, name: str) -> str:
        """The engine's name for ``name`` as this task awaits or emits it."""
        return task_event_name(self.tenant, name)

    def _awaited(self, event_name: str, step_name: str | None) -> tuple[str, str]:
        """(engine name, step name) of a wait on the tenant's ``event_name``.

        The step (checkpoint) name stays ``$awaitEvent:<event_name>`` as the author
        wrote it, the name it had before the prefix was added, so a task that was
        already waiting when the platform was upgraded resumes from its checkpoint.
        A wait on the raw name that began before the upgrade, and timed out, raises
        absurd-sdk's timeout here, as absurd-sdk would have for its own name.
        """
        engine_name = self.event_name(event_name)
        step_name = step_name or f"$awaitEvent:{event_name}"
        if (
            engine_name != event_name
            and self._task.get("wake_event") == event_name
            and self._task.get("event_payload") is None
            and step_name not in self._checkpoint_cache
        ):
            self._task["wake_event"] = None
            raise WaitTimedOut(f'Timed out waiting for event "{event_name}"')
        return engine_name, step_name

    def _emitted(self, event_name: str) -> str:
        """The engine's name for an emit of the tenant's ``event_name``."""
        if not event_name:
            raise ValueError("event_name must be a non-empty string")
        return self.event_name(event_name)

    def _system_awaited(self, event_name: str, step_name: str | None) -> tuple[str, str]:
        """Check that ``event_name`` is a system event owed to this task (not for task code)."""
        if not system_event_bound_to(event_name, self.task_id):
            raise ValueError(f"{event_name!r} is not a system event owed to this task.")
        return event_name, step_name or f"$awaitEvent:{event_name}"


class ControlTaskContext(TenantEventRules, TaskContext):
    """absurd-sdk's context, with event names owned by the task's tenant.

    absurd-sdk 0.5.1's ``TaskContext`` names events in exactly two methods,
    ``await_event`` and ``emit_event``; both are overridden here with the rules of
    ``TenantEventRules``.
    """

    def await_event(
        self, event_name: str, step_name: str | None = None, timeout: int | None = None
    ) -> Any:
        """Wait for this task's tenant's event ``event_name`` (a raw name without a tenant)."""
        engine_name, step_name = self._awaited(event_name, step_name)
        return super().await_event(engine_name, step_name, timeout)

    # -- The lease: look-ups it makes redundant are skipped (worker/lease_clock.py) ----

    def _lookup_checkpoint(self, checkpoint_name: str) -> Any:
        if self._cache_is_complete(checkpoint_name):
            return _NOT_FOUND
        return super()._lookup_checkpoint(checkpoint_name)

    def _persist_checkpoint(self, checkpoint_name: str, value: Any) -> None:
        sent = time.monotonic()
        super()._persist_checkpoint(checkpoint_name, value)  # extends by the claim timeout
        if self._lease is not None:
            self._lease.renewed(sent)

    def heartbeat(self, seconds: int | None = None) -> None:
        sent = time.monotonic()
        super().heartbeat(seconds)
        if self._lease is not None:
            self._lease.renewed(sent, seconds)

    def emit_event(self, event_name: str, payload: Any = None) -> None:
        """Emit this task's tenant's event ``event_name`` (a raw name without a tenant)."""
        super().emit_event(self._emitted(event_name), payload)

    def _await_system_event(
        self, event_name: str, step_name: str | None = None, timeout: int | None = None
    ) -> Any:
        """Await a system event owed to this task (approvals.workflow); not for task code.

        Only system names bound to this task are accepted (absurd_core.event_names),
        so even code that passed a name from params here could not read another
        task's decision.
        """
        return super().await_event(*self._system_awaited(event_name, step_name), timeout)

    # -- Child workflows (absurd_core/children.py, docs/workflows.md) ------------------

    def spawn_child(
        self,
        task: Any,
        params: Any = None,
        *,
        queue: str | None = None,
        key: str | None = None,
        max_attempts: int | None = None,
        retry_strategy: dict[str, Any] | None = None,
        on_parent_cancel: str = "cancel",
    ) -> kids.ChildHandle:
        """Start a child task (a durable step); returns its handle.

        On a replay or a retry of this task it returns the same child: its idempotency
        key is derived from this task's id and the step's name (``key``, or the task
        name; repeated names are numbered like any step). The child runs in this task's
        tenant. ``on_parent_cancel``: "cancel" (default) cancels the child when this
        task is cancelled, "abandon" lets it run.
        """
        name = kids.task_name_of(task)
        step = self.begin_step(f"$child:{key or name}")
        if step.done:
            return self._bind(step.state)
        started = self._start_children(
            step.checkpoint_name,
            name,
            [params],
            True,
            queue,
            on_parent_cancel,
            max_attempts,
            retry_strategy,
        )
        return self._bind(self.complete_step(step, started[0]))

    def spawn_children(
        self,
        task: Any,
        params_list: list[Any],
        *,
        queue: str | None = None,
        key: str | None = None,
        max_attempts: int | None = None,
        retry_strategy: dict[str, Any] | None = None,
        on_parent_cancel: str = "cancel",
    ) -> list[kids.ChildHandle]:
        """Start one child per params, in one statement (a durable step); returns the handles."""
        name = kids.task_name_of(task)
        params_list = list(params_list)
        step = self.begin_step(f"$children:{key or name}")
        if step.done:
            stored = step.state
        else:
            stored = self.complete_step(
                step,
                self._start_children(
                    step.checkpoint_name,
                    name,
                    params_list,
                    False,
                    queue,
                    on_parent_cancel,
                    max_attempts,
                    retry_strategy,
                ),
            )
        return [self._bind(item) for item in stored]

    def await_children(
        self,
        handles: list[kids.ChildHandle],
        mode: str = "all",
        n: int | None = None,
        timeout: int | None = None,
        step_name: str | None = None,
    ) -> list[kids.ChildResult]:
        """Suspend until the children end: all of them, the first, or any ``n``.

        Returns the ended children (``ChildResult``: task_id, queue, state, value) in
        the handles' order. A child that failed or was cancelled wakes the parent at
        once in every mode and raises ``ChildFailed`` (``ChildCancelled``) here.
        ``timeout`` (seconds) raises absurd-sdk's TimeoutError. No thread is held while
        waiting: the children's trigger emits one system event for this wait.
        """
        handles = list(handles)
        if not handles:
            return []
        need = kids.need_for(mode, n, len(handles))
        token = self.step(f"$await_children:{step_name or mode}", kids.new_wait_token)
        event = kids.wait_event_name(token, self.task_id)
        await_step = f"$awaitEvent:{event}"
        if self._lookup_checkpoint(await_step) is _NOT_FOUND:
            kids.register_wait(
                self._conn,
                parent_queue=self._queue_name,
                parent_task_id=self.task_id,
                event_name=event,
                mode=mode,
                need=need,
                handles=handles,
            )
            self._await_children_event(event, await_step, timeout)
        else:
            self._await_system_event(event, await_step, timeout)
        outcomes = self.step(
            f"$children_outcome:{token}", lambda: kids.read_outcomes(self._conn, handles)
        )
        return kids.settle(outcomes)

    def _await_children_event(self, event: str, await_step: str, timeout: int | None) -> Any:
        """Await the wait's event holding this run first (kids.hold_own_run: one lock order
        with a child's ender). One transaction: suspending commits it, like the await."""
        suspended = None
        with self._conn.transaction():
            kids.hold_own_run(self._conn, self._queue_name, self.run_id)
            try:
                return self._await_system_event(event, await_step, timeout)
            except SuspendTask as exc:
                suspended = exc  # the run is sleeping: commit, then suspend
        raise suspended

    def _start_children(
        self,
        checkpoint_name,
        name,
        params_list,
        single,
        queue,
        on_parent_cancel,
        max_attempts,
        retry_strategy,
    ) -> list[dict[str, str]]:
        if not self.tenant:
            raise ValueError("Only a task with a tenant can start children.")
        try:
            return self._spawn_children_now(
                checkpoint_name,
                name,
                params_list,
                single,
                queue,
                on_parent_cancel,
                max_attempts,
                retry_strategy,
            )
        except RateLimited as limited:
            # Over the tenant's spawn rate: sleep until tokens are back (no thread held),
            # then this step runs again; the children already started are found by key.
            self._schedule_run_after(max(limited.retry_after, 0.05))
            raise SuspendTask() from None

    def _spawn_children_now(
        self,
        checkpoint_name,
        name,
        params_list,
        single,
        queue,
        on_parent_cancel,
        max_attempts,
        retry_strategy,
    ) -> list[dict[str, str]]:
        return kids.start_children(
            self._conn,
            tenant=self.tenant,
            parent_task_id=self.task_id,
            parent_queue=self._queue_name,
            parent_headers=dict(self.headers),
            checkpoint_name=checkpoint_name,
            task_name=name,
            params_list=params_list,
            single=single,
            queue=queue,
            on_parent_cancel=on_parent_cancel,
            max_attempts=max_attempts,
            retry_strategy=retry_strategy,
        )

    def _bind(self, item: dict[str, str]) -> kids.ChildHandle:
        return kids.ChildHandle(item["task_id"], item["queue"], item["task_name"], self)

    # Deprecated aliases, kept for task code written before the context prefixed names.

    def tenant_event_name(self, name: str) -> str:
        """Deprecated: ``await_event``/``emit_event`` add the prefix themselves now."""
        if not self.tenant:
            raise ValueError("This task has no tenant, so it has no tenant events.")
        return tenant_event_name(self.tenant, name)

    def await_tenant_event(
        self, name: str, step_name: str | None = None, timeout: int | None = None
    ) -> Any:
        """Deprecated: same as ``await_event(name)``.

        Its step name stays ``$awaitEvent:tenant:<slug>:<name>``, the one it always had.
        """
        full = self.tenant_event_name(name)
        return self.await_event(full, step_name or f"$awaitEvent:{full}", timeout)


CHECKPOINTS_SQL = "select checkpoint_name, state from absurd.get_task_checkpoint_states(%s, %s, %s)"


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
            cursor.execute(CHECKPOINTS_SQL, (queue, claimed["task_id"], claimed["run_id"]))
            cache = {row["checkpoint_name"]: row["state"] for row in cursor.fetchall()}
    return fill_context(ControlTaskContext, conn, queue, claimed, cache, claim_timeout)


def fill_context(cls, conn, queue, claimed, cache, claim_timeout):
    """An absurd-sdk context of ``cls`` (whose constructor refuses), as absurd-sdk builds it."""
    ctx = object.__new__(cls)
    ctx.task_id = claimed["task_id"]
    ctx._conn = conn
    ctx._queue_name = queue
    ctx._task = claimed
    ctx._checkpoint_cache = cache
    ctx._claim_timeout = claim_timeout
    ctx._step_name_counter = {}
    ctx._lease = claimed.pop("_lease", None)  # runworker's lease clock, if any
    return ctx
