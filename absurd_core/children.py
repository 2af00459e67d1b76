"""Child workflows: a task starts children, waits for them without polling (docs/workflows.md).

The task side is on the context (``ctx.spawn_child``, ``ctx.spawn_children``,
``ctx.await_children``: absurd_core/worker/context.py); this module holds what it
needs: the relationship headers the platform stamps, the handles and outcomes, the
typed failure, and the statements (the SQL is absurd_core/sql/children.sql).

- Spawning is a durable step, and each child's idempotency key is derived from the
  parent's task id (stable across retries, unlike the run id) and the step's
  checkpoint name, so a replayed or retried parent gets the same children back.
  Children inherit the parent's tenant from its task record, never from params.
- Waiting registers a row in ``absurd_control.child_wait`` and awaits a system event
  bound to the parent (``children:<random>:<parent task id>``, absurd_core/event_names.py),
  which the per-queue trigger emits once when the condition is met, whoever ended the
  children. The parent holds no thread while it waits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from absurd_core.errors import InvalidArgument, RateLimited
from absurd_core.queues import validate_queue_name
from absurd_core.registry import registry
from absurd_core.spawning import spawn_many

#: Relationship headers, stamped by the platform on every child (never by clients).
RESERVED_HEADER_PREFIX = "absurd_control."
PARENT = "absurd_control.parent"
PARENT_QUEUE = "absurd_control.parent_queue"
ROOT = "absurd_control.root"
DEPTH = "absurd_control.depth"
ON_PARENT_CANCEL = "absurd_control.on_parent_cancel"

ON_PARENT_CANCEL_CHOICES = ("cancel", "abandon")
WAIT_MODES = ("all", "first", "any_n")
#: Children spawned per statement by spawn_children (below a tenant's default burst, 100).
SPAWN_CHUNK = 50
TERMINAL = ("completed", "failed", "cancelled")


class ChildFailed(Exception):
    """A child the parent waited for failed or was cancelled.

    Carries the child's ``task_id``, ``queue``, ``state`` ("failed" or "cancelled")
    and ``error`` (the failure reason of its last run, as the engine stored it).
    """

    def __init__(self, task_id: str, queue: str, state: str, error: Any = None):
        self.task_id = task_id
        self.queue = queue
        self.state = state
        self.error = error
        reason = ""
        if isinstance(error, dict):
            reason = ": " + ": ".join(str(error[k]) for k in ("name", "message") if error.get(k))
        super().__init__(f"Child task {task_id} on queue {queue} {state}{reason}")


class ChildCancelled(ChildFailed):
    """A child the parent waited for was cancelled (a ChildFailed with state "cancelled")."""


@dataclass(frozen=True)
class ChildResult:
    """One ended child: its id, queue, state and (completed) return value."""

    task_id: str
    queue: str
    state: str
    value: Any = None


@dataclass(frozen=True)
class ChildHandle:
    """A child started by ``ctx.spawn_child``; ``result()`` waits for it (suspending)."""

    task_id: str
    queue: str
    task_name: str
    _ctx: Any = field(default=None, repr=False, compare=False)

    def result(self, timeout: int | None = None, step_name: str | None = None) -> Any:
        """Wait for this child and return its result; raises ChildFailed if it did not complete."""
        if self._ctx is None:
            raise RuntimeError("This handle is not bound to a task context.")
        return self._ctx.await_children([self], timeout=timeout, step_name=step_name)[0].value

    def as_json(self) -> dict[str, str]:
        return {"task_id": self.task_id, "queue": self.queue, "task_name": self.task_name}


def task_name_of(task: Any) -> str:
    """A task's registered name, from its name or its decorated handler."""
    if isinstance(task, str):
        return task
    for spec in registry:
        if spec.handler is task:
            return spec.name
    name = getattr(task, "name", None)
    if isinstance(name, str):
        return name
    raise InvalidArgument(f"{task!r} is not a registered task or a task name.")


def relationship_headers(
    parent_headers: dict[str, Any], parent_task_id: str, parent_queue: str, on_parent_cancel: str
) -> dict[str, Any]:
    """The headers a child of this parent carries (the tenant is stamped by spawn)."""
    if on_parent_cancel not in ON_PARENT_CANCEL_CHOICES:
        raise InvalidArgument(
            f"on_parent_cancel must be one of {', '.join(ON_PARENT_CANCEL_CHOICES)}."
        )
    depth = parent_headers.get(DEPTH)
    depth = depth if isinstance(depth, int) and not isinstance(depth, bool) else 0
    root = parent_headers.get(ROOT) if parent_headers.get(PARENT) else None
    return {
        PARENT: str(parent_task_id),
        PARENT_QUEUE: parent_queue,
        ROOT: str(root or parent_task_id),
        DEPTH: depth + 1,
        ON_PARENT_CANCEL: on_parent_cancel,
    }


def child_key(parent_task_id: str, checkpoint_name: str, index: int | None = None) -> str:
    """A child's idempotency key: the parent's task id (stable across retries) and the step."""
    key = f"child:{parent_task_id}:{checkpoint_name}"
    return key if index is None else f"{key}:{index}"


def start_children(
    conn: Any,
    *,
    tenant: str,
    parent_task_id: str,
    parent_queue: str,
    parent_headers: dict[str, Any],
    checkpoint_name: str,
    task_name: str,
    params_list: list[Any],
    single: bool,
    queue: str | None,
    on_parent_cancel: str,
    max_attempts: int | None = None,
    retry_strategy: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Spawn the children of one step, in one statement; returns their handles as JSON.

    A key already taken (a replay after a crash between the spawn and the checkpoint)
    returns the existing task; it must be this parent's child, or the step fails rather
    than adopting a task someone else created under a guessed key.
    """
    headers = relationship_headers(parent_headers, parent_task_id, parent_queue, on_parent_cancel)
    keys = [
        child_key(parent_task_id, checkpoint_name, None if single else i)
        for i in range(len(params_list))
    ]
    common = {
        "tenant": tenant,
        "headers": headers,
        "queue": queue,
        "max_attempts": max_attempts,
        "retry_strategy": retry_strategy,
    }
    results = []
    # Chunks, each its own statement: every child counts against the tenant's spawn rate,
    # and a statement the gate refuses (RateLimited) spawns nothing. A refused chunk is
    # spawned again one child per statement, as far as the tokens go; then RateLimited
    # propagates (the context sleeps until tokens are back). What was started stays, and
    # the step's next try gets it back by key without spending tokens again.
    for start in range(0, len(params_list), SPAWN_CHUNK):
        chunk = slice(start, start + SPAWN_CHUNK)
        try:
            results += spawn_many(
                task_name, params_list[chunk], idempotency_keys=keys[chunk], **common
            )
        except RateLimited:
            for params, key in zip(params_list[chunk], keys[chunk], strict=True):
                results += spawn_many(task_name, [params], idempotency_keys=[key], **common)
    spec = registry.get(task_name)
    target = spec.queue if spec else validate_queue_name(queue)
    existing = [str(r.task_id) for r in results if not r.created]
    if existing:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "select count(*) from absurd.{} where task_id = any(%s::uuid[])"
                    " and headers->>{} = %s and headers->>'tenant' = %s"
                ).format(sql.Identifier("t_" + target), sql.Literal(PARENT)),
                (existing, str(parent_task_id), tenant),
            )
            if cursor.fetchone()[0] != len(existing):
                raise InvalidArgument("An idempotency key of this parent's children was taken.")
    return [{"task_id": str(r.task_id), "queue": target, "task_name": task_name} for r in results]


def need_for(mode: str, n: int | None, count: int) -> int:
    if mode not in WAIT_MODES:
        raise ValueError(f"mode must be one of {', '.join(WAIT_MODES)}, not {mode!r}.")
    if mode == "all":
        return count
    if mode == "first":
        return 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= count:
        raise ValueError(f"any_n needs n between 1 and {count} (the number of children).")
    return n


def new_wait_token() -> str:
    return uuid.uuid4().hex


#: The system events of children waits (absurd_core/event_names.py SYSTEM_EVENT_PREFIXES).
WAIT_EVENT_PREFIX = "children:"


def wait_event_name(token: str, parent_task_id: str) -> str:
    """The system event that wakes this parent's wait (absurd_core/event_names.py)."""
    return f"{WAIT_EVENT_PREFIX}{token}:{parent_task_id}"


def register_wait(
    conn: Any,
    *,
    parent_queue: str,
    parent_task_id: str,
    event_name: str,
    mode: str,
    need: int,
    handles: list[ChildHandle],
) -> bool:
    """Record the wait (idempotent); fires at once when the children already ended."""
    children = json.dumps([{"queue": h.queue, "task_id": h.task_id} for h in handles])
    with conn.cursor() as cursor:
        cursor.execute(
            "select absurd_control.register_child_wait(%s, %s, %s, %s, %s, %s::jsonb)",
            (parent_queue, parent_task_id, event_name, mode, need, children),
        )
        return bool(cursor.fetchone()[0])


def hold_own_run(conn: Any, parent_queue: str, run_id: Any) -> None:
    """Lock the waiting parent's run FOR UPDATE, in the transaction of its await.

    ``absurd.await_event`` locks the event row, then the run. A child's ender locks
    the parent's runs (FOR KEY SHARE, children.sql "Lock order"), then the event row
    as it emits. Taken in opposite orders, a last child ending while its parent
    suspends deadlocked (PostgreSQL broke it after deadlock_timeout, and the parent ran
    again after its retry delay: bench/fan_out.py's ~2 s join p99). Taking the run
    first, the lock await_event takes anyway, puts both sides in one order.
    """
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("select 1 from absurd.{} where run_id = %s for update").format(
                sql.Identifier("r_" + parent_queue)
            ),
            (run_id,),
        )


def read_outcomes(conn: Any, handles: list[ChildHandle]) -> list[dict[str, Any]]:
    """Each child's state, result and failure, in the handles' order (JSON, for a checkpoint)."""
    children = json.dumps([{"queue": h.queue, "task_id": h.task_id} for h in handles])
    with conn.cursor() as cursor:
        cursor.execute(
            "select queue, task_id::text, state, result, failure"
            " from absurd_control.child_outcomes(%s::jsonb)",
            (children,),
        )
        rows = {(q, t): (s, r, f) for q, t, s, r, f in cursor.fetchall()}
    out = []
    for h in handles:
        state, result, failure = rows.get((h.queue, h.task_id), ("missing", None, None))
        out.append(
            {
                "task_id": h.task_id,
                "queue": h.queue,
                "state": state,
                "result": result,
                "failure": failure,
            }
        )
    return out


def settle(outcomes: list[dict[str, Any]]) -> list[ChildResult]:
    """The ended children as results, in order; raise for the first that did not complete."""
    ended = [o for o in outcomes if o["state"] in TERMINAL or o["state"] == "missing"]
    for o in ended:
        if o["state"] == "cancelled":
            raise ChildCancelled(o["task_id"], o["queue"], "cancelled", o["failure"])
        if o["state"] != "completed":
            raise ChildFailed(o["task_id"], o["queue"], o["state"], o["failure"])
    return [ChildResult(o["task_id"], o["queue"], o["state"], o["result"]) for o in ended]
