"""Audited queue administration, for the dashboard's Queues page (and any other caller).

Queues are shared by every tenant, so each change first checks
``Actor.require_platform_admin`` (absurd_core.actors) (PermissionDenied otherwise), then makes the
change and writes its audit row (absurd_core.audit.record) in one transaction: the
change and the record of who made it commit together or not at all.

``queue_rows`` is the page's read: every queue as a ``QueueStats`` (absurd_core.queries.queues)
with the tenant's own counts (from ``overview_stats``, the read tuned for large queues: its
counts may be estimates), its pause and its cleanup policy.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from django.db import connections, transaction

from absurd_core import engine
from absurd_core.actors import Actor
from absurd_core.audit import record
from absurd_core.engine import CleanupResult
from absurd_core.errors import AbsurdError, InvalidArgument, InvalidQueueName, QueueNotFound
from absurd_core.queries.queues import QueueStats, overview_stats, with_policy
from absurd_core.queues import validate_queue_name
from absurd_core.tenancy import TenantScope


class QueueExists(AbsurdError, ValueError):
    """create_queue: a queue of that name exists already."""


class ConfirmationMismatch(AbsurdError, ValueError):
    """drop_queue: the typed confirmation is not the queue's name."""


def _is_valid(name: str) -> bool:
    try:
        validate_queue_name(name)
    except InvalidQueueName:
        return False
    return True


def queue_rows(scope: TenantScope, *, using: str = "default") -> list[QueueStats]:
    """Every queue's stats for ``scope``, with its pause, and its cleanup policy when the
    app can manage it (``manageable``)."""
    rows = []
    for stats in overview_stats(scope, using=using):
        manageable = _is_valid(stats.name)
        stats = dataclasses.replace(stats, manageable=manageable)
        rows.append(with_policy(stats, using=using) if manageable else stats)
    return rows


def _lock_name(name: str, using: str) -> None:
    """Serialise changes to one queue's existence (create and drop) for this transaction."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"absurd_control.queue:{name}"],
        )


def queue_exists(name: str, *, using: str = "default") -> bool:
    """False also for a name no queue of ours can have (a hostile one)."""
    try:
        return engine.queue_exists(name, using=using)
    except InvalidQueueName:
        return False


def _require_existing(name: str, using: str) -> None:
    if not queue_exists(name, using=using):
        raise QueueNotFound("No queue has that name.")


#: Upstream's storage modes (absurd.create_queue): one table per kind, or weekly partitions.
STORAGE_MODES = ("unpartitioned", "partitioned")


def _refuse_table_clash(name: str, storage_mode: str, using: str) -> None:
    """QueueExists when the new queue's tables would be another queue's: a partition of a
    partitioned queue (``t_<queue>_<week>``, ``t_<queue>_d``) has exactly the name of the
    tables of a queue called ``<queue>_<week>``, and upstream's "create table if not
    exists" would then take the partition as the new queue's table, or (the other way
    round) skip a week's partition."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "select exists (select 1 from unnest(array['t_', 'r_', 'c_', 'e_', 'w_', 'i_']) p"
            "   where to_regclass(format('absurd.%%I', p || %s)) is not null)"
            " or (%s = 'partitioned' and exists (select 1 from absurd.queues q"
            "   where left(q.queue_name, length(%s) + 1) = %s || '_'"
            "     and substr(q.queue_name, length(%s) + 2) ~ '^([0-9]{3}|d)$'))",
            [name, storage_mode, name, name, name],
        )
        if cursor.fetchone()[0]:
            raise QueueExists(
                f"Tables named for a queue {name!r} exist already (another queue's "
                "partitions, or a queue whose names its partitions would take)."
            )


def create_queue(
    principal: Actor,
    name: str,
    *,
    storage_mode: str = "unpartitioned",
    via: str | None = None,
    using: str = "default",
) -> None:
    """Create ``name`` in ``storage_mode``. InvalidQueueName for a bad name, InvalidArgument
    for a storage mode upstream does not have, QueueExists if it exists already."""
    principal.require_platform_admin("create a queue")
    validate_queue_name(name)
    if storage_mode not in STORAGE_MODES:
        raise InvalidArgument(f"storage_mode must be one of: {', '.join(STORAGE_MODES)}.")
    with transaction.atomic(using=using):
        _lock_name(name, using)
        if engine.queue_exists(name, using=using):
            raise QueueExists(f"A queue named {name!r} exists already.")
        _refuse_table_clash(name, storage_mode, using)
        engine.create_queue(name, storage_mode=storage_mode, using=using)
        partitioned = {"storage_mode": storage_mode} if storage_mode != STORAGE_MODES[0] else {}
        record(
            principal, "create_queue", queue=name, detail=_audit_detail(via, **partitioned) or None
        )


def drop_queue(principal: Actor, name: str, confirmation: str, *, using="default") -> None:
    """Drop ``name`` and all its tasks, once ``confirmation`` is exactly its name."""
    principal.require_platform_admin("drop a queue")
    if confirmation != name:
        raise ConfirmationMismatch("Type the queue's name exactly to drop it.")
    with transaction.atomic(using=using):
        _lock_name(name, using)
        _require_existing(name, using)
        engine.drop_queue(name, using=using)  # a trigger removes its pause, if any
        record(principal, "drop_queue", queue=name)


def _audit_detail(via: str | None, **detail: object) -> dict[str, object]:
    """The audit row's detail: what changed, and the surface it came through, if not the
    dashboard (the API passes ``via="api"``)."""
    return {"via": via, **detail} if via else detail


def pause(principal: Actor, name: str, *, via: str | None = None, using: str = "default") -> bool:
    """Pause ``name``; False (and no audit row) if it was paused already.

    Pausing is ours, not the engine's: ``absurd_control.queue_pause``
    (absurd_core/sql/pause.sql) gates our workers' claims.
    """
    principal.require_platform_admin("pause a queue")
    with transaction.atomic(using=using):
        _require_existing(name, using)
        with connections[using].cursor() as cursor:
            cursor.execute(
                "insert into absurd_control.queue_pause (queue_name, paused_by) values (%s, %s)"
                " on conflict (queue_name) do nothing",
                [name, principal.label],
            )
            changed = cursor.rowcount == 1
        if changed:
            record(principal, "pause_queue", queue=name, detail=_audit_detail(via) or None)
    return changed


def resume(principal: Actor, name: str, *, via: str | None = None, using: str = "default") -> bool:
    """Resume ``name`` (idle workers are woken at once); False (and no audit row) if it
    was not paused."""
    principal.require_platform_admin("resume a queue")
    with transaction.atomic(using=using):
        _require_existing(name, using)
        with connections[using].cursor() as cursor:
            cursor.execute("delete from absurd_control.queue_pause where queue_name = %s", [name])
            changed = cursor.rowcount == 1
        if changed:
            record(principal, "resume_queue", queue=name, detail=_audit_detail(via) or None)
    return changed


def _policy(cleanup_ttl: timedelta | None, cleanup_limit: int | None) -> dict:
    """The engine's policy object for a change; InvalidArgument for a value it must refuse."""
    policy: dict[str, object] = {}
    if cleanup_ttl is not None:
        if cleanup_ttl <= timedelta(0):
            raise InvalidArgument("cleanup_ttl must be positive.")
        policy["cleanup_ttl"] = f"{int(cleanup_ttl.total_seconds())} seconds"
    if cleanup_limit is not None:
        if cleanup_limit < 1:
            raise InvalidArgument("cleanup_limit must be at least 1.")
        policy["cleanup_limit"] = cleanup_limit
    if not policy:
        raise InvalidArgument("Give cleanup_ttl, cleanup_limit or both.")
    return policy


def update_cleanup_policy(
    principal: Actor,
    name: str,
    *,
    cleanup_ttl: timedelta | None,
    cleanup_limit: int | None,
    via: str | None = None,
    using: str = "default",
) -> None:
    """Change how long finished tasks are kept and how many one cleanup pass deletes."""
    principal.require_platform_admin("change a queue's cleanup policy")
    with transaction.atomic(using=using):
        _require_existing(name, using)
        engine.set_queue_policy(name, _policy(cleanup_ttl, cleanup_limit), using=using)
        detail = {}
        if cleanup_ttl is not None:
            detail["cleanup_ttl_seconds"] = int(cleanup_ttl.total_seconds())
        if cleanup_limit is not None:
            detail["cleanup_limit"] = cleanup_limit
        record(principal, "update_queue_policy", queue=name, detail=_audit_detail(via, **detail))


def cleanup(principal: Actor, name: str, *, using: str = "default") -> CleanupResult:
    """Apply ``name``'s cleanup policy now; how many tasks and events it deleted."""
    principal.require_platform_admin("clean up a queue")
    with transaction.atomic(using=using):
        _require_existing(name, using)
        results = engine.cleanup(name, using=using)
        result = next((r for r in results if r.queue_name == name), CleanupResult(name, 0, 0))
        record(
            principal,
            "cleanup_queue",
            queue=name,
            detail={"tasks_deleted": result.tasks_deleted, "events_deleted": result.events_deleted},
        )
    return result
