"""Django's Tasks API, run by Absurd: ``TASKS = {"default": {"BACKEND":
"absurd_core.django_tasks.AbsurdBackend"}}`` (docs/django_tasks.md).

Written against the ``django-tasks`` backport (Django 5.2) and ``django.tasks`` (Django 6),
whichever is importable; both have the same classes, signals and calling convention.

- A ``@task`` function of this backend is registered with our task registry when its
  module is imported (the ``tasks`` modules of installed apps are, at start-up), under the
  function's import path (``task_name=`` gives another), on its ``queue_name``: runworker
  runs it, the API spawns it, the dashboard shows it, like any ``@absurd_core.task``.
- ``enqueue`` spawns through ``absurd_core.spawn``: the tenant is stamped, the spawn gate
  applies, ``run_after`` is a delayed start, and the spawn joins the caller's transaction
  (the task exists for workers when, and only if, the transaction commits).
  The tenant, and an optional idempotency key, come from ``enqueue_options(...)``, from
  the task that is running (a task enqueueing another keeps its tenant) or from
  ``OPTIONS["TENANT"]``.
- The run's params are ``{"args": [...], "kwargs": {...}}``; the function is called as
  Django documents it (``func(*args, **kwargs)``, ``context`` first with
  ``takes_context``). The return value is the task's result.
- ``get_result(id)`` / ``TaskResult.refresh()`` read the engine: status, return value,
  one ``TaskError`` per failed attempt (exception class and traceback), worker ids.
- ``task_enqueued`` is sent when the spawn commits, ``task_started`` and ``task_finished``
  by the worker around the call; receivers run robustly: one that raises is logged and
  never fails the task or the enqueue.
- ``priority`` is refused: Absurd claims by start time, not by priority.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

try:  # Django 6
    from django.tasks import TaskResultStatus
    from django.tasks import exceptions as _exceptions
    from django.tasks import signals as _signals
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import (
        DEFAULT_TASK_PRIORITY,
        Task,
        TaskContext,
        TaskError,
        TaskResult,
    )
except ImportError:  # Django 5.2 and the django-tasks backport
    from django_tasks import TaskResultStatus
    from django_tasks import exceptions as _exceptions
    from django_tasks import signals as _signals
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import (
        DEFAULT_TASK_PRIORITY,
        Task,
        TaskContext,
        TaskError,
        TaskResult,
    )

from absurd_core.errors import InvalidArgument, QueueNotFound, TaskNotFound
from absurd_core.queries.checkpoints import run_claims
from absurd_core.queries.tasks import find_task
from absurd_core.queues import validate_queue_name
from absurd_core.registry import TaskSpec, registry
from absurd_core.spawning import spawn
from absurd_core.tenancy import ALL_TENANTS, TenantScope

#: ``InvalidTask`` in Django 6, ``InvalidTaskError`` in the backport.
InvalidTask = getattr(_exceptions, "InvalidTask", None) or _exceptions.InvalidTaskError
TaskResultDoesNotExist = _exceptions.TaskResultDoesNotExist

logger = logging.getLogger("absurd_core.django_tasks")

#: Django tasks retry only when asked: a raising task is FAILED, as with Django's backends.
DEFAULT_DJANGO_MAX_ATTEMPTS = 1


class TaskCancelled(Exception):
    """The error a cancelled task's result carries (Django has no cancelled status)."""


class EngineFailure(Exception):
    """The error of a failure recorded without an exception class (a lost lease, a
    failure written by another client)."""


# -- the tenant and options of enqueues -------------------------------------------------

_options: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "absurd_django_task_options", default=None
)


@contextmanager
def enqueue_options(
    *, tenant: str | TenantScope | None = None, idempotency_key: str | None = None
) -> Iterator[None]:
    """The tenant that ``enqueue`` stamps and ``get_result`` reads as, and an idempotency
    key for the enqueues inside (a repeat returns the existing task's result).

    ``tenant`` comes from your code's principal, never from client input. For
    ``get_result`` only, ``tenant=ALL_TENANTS`` reads any tenant's task (platform code)."""
    current = dict(_options.get() or {})
    if tenant is not None:
        current["tenant"] = tenant
    if idempotency_key is not None:
        current["idempotency_key"] = idempotency_key
    token = _options.set(current)
    try:
        yield
    finally:
        _options.reset(token)


def _current(key: str, default: Any = None) -> Any:
    return (_options.get() or {}).get(key, default)


# -- tasks ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AbsurdTask(Task):
    """Django's ``Task``, registered with our registry when it is made by ``@task``."""

    #: The registry name; default: the function's import path (``module.qualname``).
    task_name: str | None = None
    #: Attempts before the task fails; default OPTIONS["MAX_ATTEMPTS"] (1).
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _register(self)

    @property
    def absurd_name(self) -> str:
        return self.task_name or self.module_path


@dataclass(frozen=True, kw_only=True)
class AbsurdTaskContext(TaskContext):
    """Django's ``TaskContext`` plus ``absurd``, the run's absurd-sdk context (``step``,
    ``sleep_for``, ``await_event``, ...), for Django tasks that want durable steps."""

    absurd: Any = None


def _register(task: AbsurdTask) -> None:
    name = task.absurd_name
    spec = registry.get(name)
    runner = getattr(spec.handler, "django_task", None) if spec is not None else None
    if runner is not None and runner.func is task.func:
        return  # the same function again (``using()`` copies, a module imported twice)
    handler = _Runner(task)
    registry.register(
        TaskSpec(
            name=name,
            queue=task.queue_name,
            handler=handler,
            max_attempts=task.max_attempts or _backend_option(task, "MAX_ATTEMPTS"),
            retry=_backend_option(task, "RETRY"),
        )
    )


def _backend_option(task: Task, name: str) -> Any:
    backend = task.get_backend()
    defaults = {"MAX_ATTEMPTS": DEFAULT_DJANGO_MAX_ATTEMPTS, "RETRY": None}
    return getattr(backend, "options", {}).get(name, defaults[name])


WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def params_of(args: Any, kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": dict(kwargs)}


def call_args(params: Any) -> tuple[list, dict]:
    """``(args, kwargs)`` from a run's params; TypeError with what is wrong otherwise."""
    if not isinstance(params, Mapping) or set(params) - {"args", "kwargs"}:
        raise TypeError(
            'A Django task\'s params are {"args": [...], "kwargs": {...}}, not '
            f"{params!r:.200}."
        )
    args, kwargs = params.get("args", []), params.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, Mapping):
        raise TypeError('A Django task\'s params are {"args": [...], "kwargs": {...}}.')
    return args, dict(kwargs)


class _Runner:
    """The registered handler of a Django task: ``handler(params, ctx)`` as runworker
    calls every task, calling the function as Django does."""

    def __init__(self, task: AbsurdTask):
        self.django_task = task
        self.__module__ = task.func.__module__
        self.__qualname__ = task.func.__qualname__

    def __call__(self, params: Any, ctx: Any) -> Any:
        task = self.django_task
        args, kwargs = call_args(params)
        attempt = int(getattr(ctx, "attempt", 1) or 1)
        result = _result(
            task,
            str(ctx.task_id),
            TaskResultStatus.RUNNING,
            args=args,
            kwargs=kwargs,
            worker_ids=[WORKER_ID] * attempt,
        )
        now = timezone.now()
        object.__setattr__(result, "started_at", now)
        object.__setattr__(result, "last_attempted_at", now)
        _send(_signals.task_started, result)
        tenant = getattr(ctx, "tenant", None)
        token = _options.set({"tenant": tenant} if tenant else {})
        try:
            if task.takes_context:
                value = task.call(
                    AbsurdTaskContext(task_result=result, absurd=ctx), *args, **kwargs
                )
            else:
                value = task.call(*args, **kwargs)
            # What the engine stores is JSON (tuples become lists, as Django normalises).
            value = json.loads(json.dumps(value))
        except BaseException as exc:
            if _is_suspension(exc):
                raise  # a durable sleep or wait: the run is not finished
            object.__setattr__(result, "status", TaskResultStatus.FAILED)
            object.__setattr__(result, "finished_at", timezone.now())
            result.errors.append(_error_of(exc))
            _send(_signals.task_finished, result)
            raise
        finally:
            _options.reset(token)
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        object.__setattr__(result, "finished_at", timezone.now())
        object.__setattr__(result, "_return_value", value)
        _send(_signals.task_finished, result)
        return value


def _is_suspension(exc: BaseException) -> bool:
    from absurd_sdk import CancelledTask, FailedTask, SuspendTask

    return isinstance(exc, SuspendTask | CancelledTask | FailedTask)


def _error_of(exc: BaseException) -> TaskError:
    import traceback

    cls = type(exc)
    return TaskError(
        exception_class_path=f"{cls.__module__}.{cls.__qualname__}",
        traceback="".join(traceback.format_exception(exc)),
    )


def _send(signal, result: TaskResult) -> None:
    """Send robustly: a receiver that raises is logged, never fails the task."""
    for receiver, response in signal.send_robust(sender=AbsurdBackend, task_result=result):
        if isinstance(response, BaseException):
            logger.error(
                "django_tasks.receiver_failed receiver=%r task_id=%s error=%s: %s",
                receiver,
                result.id,
                type(response).__name__,
                response,
            )


def _result(
    task: Task,
    result_id: str,
    status: TaskResultStatus,
    *,
    args: list,
    kwargs: dict,
    worker_ids: list[str] | None = None,
    errors: list[TaskError] | None = None,
    enqueued_at=None,
    started_at=None,
    finished_at=None,
    last_attempted_at=None,
) -> TaskResult:
    return TaskResult(
        task=task,
        id=result_id,
        status=status,
        enqueued_at=enqueued_at,
        started_at=started_at,
        finished_at=finished_at,
        last_attempted_at=last_attempted_at,
        args=args,
        kwargs=kwargs,
        backend=task.backend,
        errors=errors if errors is not None else [],
        worker_ids=worker_ids if worker_ids is not None else [],
    )


# -- the backend ------------------------------------------------------------------------

STATUS = {
    "pending": TaskResultStatus.READY,
    "sleeping": TaskResultStatus.READY,
    "running": TaskResultStatus.RUNNING,
    "completed": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "cancelled": TaskResultStatus.FAILED,
}


class AbsurdBackend(BaseTaskBackend):
    """``OPTIONS``: ``TENANT`` (the tenant of enqueues outside ``enqueue_options`` and
    outside a running task; default none: such an enqueue is refused), ``MAX_ATTEMPTS``
    (default 1) and ``RETRY`` (an Absurd retry strategy; default none).
    ``QUEUES``: the queue names tasks may use; default any queue that exists."""

    task_class = AbsurdTask
    supports_defer = True
    supports_get_result = True
    supports_priority = False
    supports_async_task = False

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        # Any existing queue unless QUEUES names some (Django's default is ["default"]).
        self.queues = set(params.get("QUEUES") or [])
        max_attempts = self.options.get("MAX_ATTEMPTS", DEFAULT_DJANGO_MAX_ATTEMPTS)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidTask(f"TASKS[{alias!r}]['OPTIONS']['MAX_ATTEMPTS'] must be >= 1.")

    def validate_task(self, task: Task) -> None:
        if task.priority != DEFAULT_TASK_PRIORITY:
            raise InvalidTask(
                f"priority={task.priority} cannot be honoured: Absurd claims tasks by start "
                "time, not by priority. Leave priority at 0; give urgent work its own queue "
                "(queue_name) and workers."
            )
        super().validate_task(task)
        try:
            validate_queue_name(task.queue_name)
        except InvalidArgument as exc:
            raise InvalidTask(str(exc)) from None

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        name = task.absurd_name if isinstance(task, AbsurdTask) else task.module_path
        spec = registry.get(name)
        if spec is None:
            raise InvalidTask(f"Task {name!r} is not registered with Absurd.")
        if spec.queue != task.queue_name:
            raise InvalidTask(
                f"Task {name!r} runs on queue {spec.queue!r}; Absurd runs a task on the queue "
                f"it was declared with, not {task.queue_name!r}: declare another task."
            )
        tenant = _current("tenant") or self.options.get("TENANT")
        if isinstance(tenant, TenantScope):
            tenant = ALL_TENANTS if tenant.is_all else tenant.slug
        if tenant is ALL_TENANTS:
            raise InvalidTask("Enqueueing stamps one tenant: ALL_TENANTS only reads.")
        if not tenant:
            raise InvalidTask(
                "Enqueueing needs a tenant: wrap it in absurd_core.django_tasks."
                "enqueue_options(tenant=...) or set TASKS[...]['OPTIONS']['TENANT']."
            )
        params = params_of(args, kwargs)
        try:
            spawned = spawn(
                name,
                params,
                tenant=tenant,
                idempotency_key=_current("idempotency_key"),
                run_after=task.run_after,
            )
        except QueueNotFound:
            raise InvalidTask(
                f"Queue {task.queue_name!r} does not exist: create it first "
                "(the Queues page, POST /api/v1/queues or absurd_core.engine.create_queue)."
            ) from None
        result = _result(
            task,
            str(spawned.task_id),
            TaskResultStatus.READY,
            args=params["args"],
            kwargs=params["kwargs"],
            enqueued_at=timezone.now(),
        )
        # Sent when the spawn is visible to workers: at once in autocommit, else on commit
        # (and never when the caller's transaction rolls the spawn back).
        transaction.on_commit(lambda: _send(_signals.task_enqueued, result))
        return result

    def get_result(self, result_id: str) -> TaskResult:
        try:
            task_id = UUID(str(result_id))
        except ValueError:
            raise TaskResultDoesNotExist(result_id) from None
        tenant = _current("tenant") or self.options.get("TENANT")
        if tenant is None:
            raise InvalidTask(
                "Reading a result needs a tenant: wrap it in absurd_core.django_tasks."
                "enqueue_options(tenant=...) (ALL_TENANTS for platform code)."
            )
        scope = tenant if isinstance(tenant, TenantScope) else TenantScope(tenant)
        try:
            found = find_task(scope, task_id)
        except TaskNotFound:
            raise TaskResultDoesNotExist(result_id) from None
        spec = registry.get(found.task_name)
        runner = getattr(spec.handler, "django_task", None) if spec else None
        if runner is None:
            raise TaskResultDoesNotExist(f"{result_id} is not a Django task.")
        try:
            args, kwargs = call_args(found.params)
        except TypeError:
            args, kwargs = [], {}
        claims = run_claims(scope, found.queue, task_id)
        claimed = [run for run in found.runs if run.started_at is not None]
        errors = [_engine_error(run.failure) for run in found.runs if run.failure is not None]
        if found.state == "cancelled":
            errors.append(TaskError(exception_class_path=_path(TaskCancelled), traceback=""))
        last = found.runs[-1] if found.runs else None
        finished = None
        if found.state in ("completed", "failed", "cancelled") and last is not None:
            finished = last.completed_at or last.failed_at
        result = _result(
            runner,
            str(task_id),
            STATUS[found.state],
            args=args,
            kwargs=kwargs,
            worker_ids=[claims.get(run.run_id) or "" for run in claimed],
            errors=errors,
            enqueued_at=found.enqueue_at,
            started_at=claimed[0].started_at if claimed else None,
            last_attempted_at=claimed[-1].started_at if claimed else None,
            finished_at=finished,
        )
        if found.state == "completed":
            object.__setattr__(result, "_return_value", found.result)
        return result

    def check(self, **kwargs: Any):
        return []


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _engine_error(failure: Any) -> TaskError:
    """A run's failure_reason as Django's TaskError."""
    if not isinstance(failure, Mapping):
        return TaskError(exception_class_path=_path(EngineFailure), traceback=str(failure))
    path = failure.get("exception_class")
    if not isinstance(path, str) or "." not in path:
        path = _path(EngineFailure)
    traceback = failure.get("traceback") or f"{failure.get('name')}: {failure.get('message')}"
    return TaskError(exception_class_path=path, traceback=str(traceback))


__all__ = [
    "ALL_TENANTS",
    "AbsurdBackend",
    "AbsurdTask",
    "AbsurdTaskContext",
    "EngineFailure",
    "InvalidTask",
    "TaskCancelled",
    "TaskResultDoesNotExist",
    "enqueue_options",
]
