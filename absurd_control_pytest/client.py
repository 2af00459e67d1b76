"""``AbsurdTestClient``: what the ``absurd`` fixture gives a test.

It runs tasks in the test's own process and transaction, through the worker's own
code: the claim statement of runworker (with the registered claim admission), the
executor that settles runs (``absurd_core.worker.executor``) and, for ``async def``
tasks, the async executor's ``execute_async``. Approvals are decided through
``approvals.decisions.decide``, the path an emailed link takes; events are emitted
through ``absurd_core.emitting``, the JSON API's path.

Time: ``freeze(at)`` and ``advance(seconds)`` set the engine's clock (the session
setting ``absurd.fake_now`` that ``absurd.current_time()`` reads) and Python's
(``django.utils.timezone.now`` and absurd-sdk's clock) to the same instant, which
then stays put until moved again: sleeps, retry back-off, delayed starts and
approval expiry fall due without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import DatabaseError, connections

from absurd_control_pytest.connections import AsyncOverSync, JsonConnection
from absurd_core import engine
from absurd_core.emitting import emit_for_tenant, emit_raw
from absurd_core.hooks import claim_admission
from absurd_core.registry import registry
from absurd_core.spawning import spawn
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from absurd_core.worker.async_executor import execute_async
from absurd_core.worker.executor import Executor, Outcome
from absurd_core.worker.runner import claim_sql

WORKER_ID = "pytest"
CLAIM_TIMEOUT = 300
RELEASE_SQL = "select absurd.schedule_run(%s, %s, absurd.current_time())"


@dataclass(frozen=True)
class Ran:
    """One run the fixture executed, and how it ended."""

    task_id: UUID
    run_id: UUID
    task_name: str
    queue: str
    attempt: int
    #: completed, failed, suspended (slept or waits for an event), cancelled, lost,
    #: or deferred (a task this process does not run: handed back).
    status: str
    error: str | None = None


class TaskFailed(AssertionError):
    """A task failed for good during ``drain``/``run``; the message holds its traceback."""


class DrainTimeout(AssertionError):
    """``drain`` still found runnable work after ``timeout`` seconds (a loop?)."""


class NothingToRun(LookupError):
    """``run(task_id)`` found no run of that task due now."""


class AbsurdTestClient:
    def __init__(self, *, tenant: str = "test", using: str = "default", monkeypatch=None):
        #: The tenant ``spawn`` and ``emit`` use unless told otherwise.
        self.tenant = tenant
        self.using = using
        self._monkeypatch = monkeypatch
        self._now: datetime | None = None
        self._queues: dict[str, str] = {}  # task id -> queue, for what this client spawned
        #: (run, traceback) of every failed attempt: the pytest report shows them.
        self.failures: list[tuple[Ran, str]] = []

    # -- spawning and running -------------------------------------------------------

    def spawn(self, task: Any, params: Any = None, **options: Any) -> engine.SpawnResult:
        """Spawn ``task`` (a name, or a function decorated with ``@task``) through
        ``absurd_core.spawn``, for ``tenant=`` or the client's tenant; its queue is
        created if it does not exist yet."""
        name = getattr(task, "task_name", task)
        spec = registry.get(name)
        queue = options.get("queue") or (spec.queue if spec is not None else None)
        if queue is not None:
            self._ensure_queue(queue)
        options.setdefault("tenant", self.tenant)
        result = spawn(name, {} if params is None else params, using=self.using, **options)
        if queue is not None:
            self._queues[str(result.task_id)] = queue
        return result

    def drain(
        self, timeout: float = 10.0, *, queues: Iterable[str] | None = None, raise_failures=True
    ) -> list[Ran]:
        """Run every due run until none is left, in order of claim; return what ran.

        ``queues``: those of every registered task (what runworker serves) unless
        given. A task that fails for good raises ``TaskFailed`` with its traceback
        once the drain is over (``raise_failures=False``: look at ``result()`` instead).
        Runs due later (a sleep, a retry's back-off) are not waited for: ``advance``.
        """
        deadline = time.monotonic() + timeout
        names = self._serving(queues)
        ran: list[Ran] = []
        while True:
            progressed = False
            for queue in names:
                for row in self._claim(queue, 1):
                    ran.append(self._execute(queue, row))
                    progressed = True
            if not progressed:
                break
            if time.monotonic() > deadline:
                done = ", ".join(f"{r.task_name}:{r.status}" for r in ran[-10:])
                raise DrainTimeout(
                    f"Still runnable work after {timeout}s ({len(ran)} runs; last: {done})."
                )
        if raise_failures:
            self._raise_failed(ran)
        return ran

    def run(self, task_id: Any, *, raise_failures: bool = True) -> Ran:
        """Run the due run of one task (others claimed on the way are handed back)."""
        task_id = _task_id(task_id)
        queue = self.queue_of(task_id)
        put_back = []
        try:
            while True:
                rows = self._claim(queue, 10)
                if not rows:
                    raise NothingToRun(f"Task {task_id} has no run due now on {queue!r}.")
                mine = next((r for r in rows if r["task_id"] == task_id), None)
                put_back += [r for r in rows if r is not mine]
                if mine is not None:
                    ran = self._execute(queue, mine)
                    break
        finally:
            for row in put_back:
                self._conn().execute(RELEASE_SQL, (queue, row["run_id"]))
        if raise_failures:
            self._raise_failed([ran])
        return ran

    # -- events and approvals -------------------------------------------------------

    def emit(
        self,
        name: str,
        payload: Any = None,
        *,
        tenant: str | None = None,
        queue: str | None = None,
        raw: bool = False,
    ):
        """Emit the tenant's event ``name`` (as ``POST /api/v1/events`` does) on ``queue``:
        by default the queue of the tasks this client spawned, if they share one.
        ``raw=True`` emits the name as it is (tasks without a tenant)."""
        queue = queue or self._only_queue()
        if raw:
            return emit_raw(queue, name, payload, using=self.using)
        return emit_for_tenant(
            TenantScope(tenant or self.tenant), queue, name, payload, using=self.using
        )

    def approve(self, request_id: int, approver: str | None = None, comment: str = ""):
        """Answer an approval request for ``approver`` (default: the first who has not
        answered) through the decision path of an emailed link. Returns the request."""
        return self._decide(request_id, "approve", approver, comment)

    def reject(self, request_id: int, approver: str | None = None, comment: str = ""):
        return self._decide(request_id, "reject", approver, comment)

    def approval_requests(self, task_id: Any = None) -> list:
        """The approval requests (of one task), oldest first."""
        from approvals.models import ApprovalRequest

        requests = ApprovalRequest.objects.order_by("pk")
        if task_id is not None:
            requests = requests.filter(task_id=_task_id(task_id))
        return list(requests)

    def tick_schedules(self) -> list[UUID]:
        """Fire the schedules due now, as runworker's ticker does; return the task ids
        spawned, in firing order (run them with ``drain``).

        Like a starting worker it first syncs the schedules declared in code
        (``@task(..., schedules=[...])``, a plugin's ``schedules``), then runs the ticker's
        own ``tick()`` until no due schedule is left. "Due" is on the engine's clock, so
        ``advance`` first: a declared schedule's first slot is planned when it is synced
        (after ``migrate``), and the catch-up policy applies to slots passed over at once.
        """
        from absurd_core.schedule_firing import tick
        from absurd_core.schedule_sync import sync

        sync(using=self.using)
        spawned: list[UUID] = []
        for _ in range(100):  # a tick locks at most TICK_BATCH schedules
            result = tick(using=self.using)
            spawned.extend(UUID(str(task_id)) for task_id in result.spawned.values())
            if not result.ticked:
                break
        return spawned

    def create_queue(self, queue: str) -> str:
        """Create ``queue`` if it does not exist (``spawn`` does it for a task's queue)."""
        self._ensure_queue(queue)
        return queue

    # -- time ----------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The engine's current time (frozen or not)."""
        with connections[self.using].cursor() as cursor:
            cursor.execute("select absurd.current_time()")
            return cursor.fetchone()[0]

    def freeze(self, at: datetime) -> datetime:
        """Stop both clocks at ``at`` (timezone-aware)."""
        if at.tzinfo is None:
            raise ValueError("freeze() needs a timezone-aware datetime.")
        self._now = at
        with connections[self.using].cursor() as cursor:
            cursor.execute("select set_config('absurd.fake_now', %s, false)", [at.isoformat()])
        if self._monkeypatch is not None:
            import absurd_sdk
            from django.utils import timezone

            self._monkeypatch.setattr(absurd_sdk, "_get_current_time", lambda: self._now)
            self._monkeypatch.setattr(timezone, "now", lambda: self._now)
        return at

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move both clocks forward (from now, frozen there if they were not frozen)."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds < 0:
            raise ValueError("advance() moves time forward only.")
        return self.freeze((self._now or self.now) + timedelta(seconds=seconds))

    def unfreeze(self) -> None:
        """Let both clocks run again (the fixture does it after every test)."""
        if self._now is not None:
            self._now = None
            if self._monkeypatch is not None:
                self._monkeypatch.undo()
            try:
                with connections[self.using].cursor() as cursor:
                    cursor.execute("select set_config('absurd.fake_now', '', false)")
            except DatabaseError:
                # A test that broke its transaction: the rollback after it resets the setting.
                pass

    # -- assertions ----------------------------------------------------------------

    def result(self, task_id: Any) -> engine.TaskResult:
        """State, return value and failure of a task (``absurd.get_task_result``)."""
        task_id = _task_id(task_id)
        return engine.get_task_result(self.queue_of(task_id), task_id, using=self.using)

    def history(self, task_id: Any) -> list[str]:
        """The task's event-log kinds, oldest first (spawned, claimed, sleeping, ...)."""
        from absurd_core.queries.history import task_history

        task_id = _task_id(task_id)
        events = task_history(TenantScope(ALL_TENANTS), self.queue_of(task_id), task_id)
        return [event.kind for event in events]

    def dead_letters(self) -> list:
        """Every dead letter (a task that failed for good), oldest first."""
        from absurd_core.models import DeadLetter

        return list(DeadLetter.objects.order_by("pk"))

    def queue_of(self, task_id: Any) -> str:
        task_id = _task_id(task_id)
        queue = self._queues.get(str(task_id))
        if queue is None:
            detail = _find(task_id)
            if detail is None:
                raise LookupError(f"No task {task_id}.")
            queue = self._queues[str(task_id)] = detail
        return queue

    # -- internals -----------------------------------------------------------------

    def _conn(self) -> JsonConnection:
        connection = connections[self.using]
        connection.ensure_connection()
        return JsonConnection(connection.connection)

    def _ensure_queue(self, queue: str) -> None:
        if not engine.queue_exists(queue, using=self.using):
            engine.create_queue(queue, using=self.using)

    def _serving(self, queues: Iterable[str] | None) -> list[str]:
        wanted = sorted(set(queues)) if queues is not None else registry.queues()
        return [q for q in wanted if engine.queue_exists(q, using=self.using)]

    def _only_queue(self) -> str:
        queues = set(self._queues.values())
        if len(queues) != 1:
            raise ValueError("Say which queue: emit(..., queue=...).")
        return queues.pop()

    def _claim(self, queue: str, qty: int) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._conn().cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                claim_sql(claim_admission()),
                {"queue": queue, "worker": WORKER_ID, "timeout": CLAIM_TIMEOUT, "qty": qty},
            )
            rows = cursor.fetchall()
        return [row for row in rows if row.pop("admitted")]

    def _execute(self, queue: str, row: dict[str, Any]) -> Ran:
        task_id, run_id, name, attempt = (
            row["task_id"],
            row["run_id"],
            row["task_name"],
            int(row["attempt"]),
        )
        self._queues.setdefault(str(task_id), queue)
        conn = self._conn()
        spec = registry.runnable(name, queue)
        if spec is not None and spec.is_async:
            outcome = _run_async(
                execute_async(AsyncOverSync(conn), spec, queue, row, CLAIM_TIMEOUT)
            )
        else:
            executor = Executor(conn, registry, CLAIM_TIMEOUT, close_django_connections=False)
            outcome = executor.run(queue, row)
        ran = Ran(task_id, run_id, name, queue, attempt, outcome.status, outcome.error)
        if outcome.status == "failed":
            failure = self.result(task_id).failure or {}
            self.failures.append((ran, _traceback(failure)))
        return ran

    def _raise_failed(self, ran: list[Ran]) -> None:
        for run in ran:
            if run.status != "failed":
                continue
            result = self.result(run.task_id)
            if result.state == "failed":
                raise TaskFailed(
                    f"Task {run.task_name} ({run.task_id}) failed on attempt {run.attempt}:\n"
                    + _traceback(result.failure or {})
                )

    def _decide(self, request_id: int, decision: str, approver: str | None, comment: str):
        from approvals import decisions
        from approvals.models import ApprovalRequest, ApprovalToken

        tokens = ApprovalToken.objects.filter(request_id=request_id).order_by("pk")
        if approver is not None:
            tokens = tokens.filter(approver=approver.lower())
        else:
            tokens = tokens.filter(used_at__isnull=True)
        token = tokens.first()
        if token is None:
            who = approver or "an approver who has not answered"
            raise LookupError(f"Approval request {request_id} has no token for {who}.")
        decisions.decide(token.pk, decision, comment=comment, via=f"pytest for {token.approver}")
        return ApprovalRequest.objects.get(pk=request_id)


def _task_id(value: Any) -> UUID:
    value = getattr(value, "task_id", value)
    return value if isinstance(value, UUID) else UUID(str(value))


def _find(task_id: UUID) -> str | None:
    from absurd_core.queries.tasks import find_task

    try:
        return find_task(TenantScope(ALL_TENANTS), task_id).queue
    except LookupError:  # TaskNotFound
        return None


def _traceback(failure: dict[str, Any]) -> str:
    return failure.get("traceback") or f"{failure.get('name')}: {failure.get('message')}"


def _run_async(coroutine) -> Outcome:
    """Run an async task's coroutine to its end on an event loop of its own; in a helper
    thread if this thread already runs a loop (Playwright's sync API, say)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
