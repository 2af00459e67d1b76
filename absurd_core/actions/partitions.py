"""Audited retention of partitioned queues: their detach policy, and dropping the old
empty partitions it allows (absurd_core/sql/partitions.sql).

Queues are shared by every tenant: each change needs a platform admin
(``Actor.require_platform_admin``), and is made and audited in one transaction, as in
absurd_core/actions/queues.py.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import OperationalError, connections, transaction

from absurd_core import engine
from absurd_core.actors import Actor
from absurd_core.audit import record
from absurd_core.errors import AbsurdError, InvalidArgument, InvalidQueueName, QueueNotFound

#: Upstream's detach modes: never detach, or detach partitions that are old and empty.
DETACH_MODES = ("none", "empty")
MAX_DETACH_MIN_AGE = timedelta(days=3650)


class NotPartitioned(InvalidArgument):
    """The queue keeps one table per kind: it has no partitions to detach."""


class PartitionsBusy(AbsurdError):
    """The queue's tables were locked longer than the lock timeout: nothing changed."""


def _partitioned_or_raise(name: str, using: str) -> None:
    try:
        policy = engine.get_queue_policy(name, using=using)
    except InvalidQueueName:  # a name no queue can have: there is no such queue
        policy = None
    if policy is None:
        raise QueueNotFound("No queue has that name.")
    if policy.storage_mode != "partitioned":
        raise NotPartitioned(f"Queue {name} is not partitioned.")


def update_detach_policy(
    principal: Actor,
    name: str,
    *,
    detach_mode: str,
    detach_min_age: timedelta,
    via: str | None = None,
    using: str = "default",
) -> None:
    """Whether old empty partitions of ``name`` may be dropped, and from what age."""
    principal.require_platform_admin("change a queue's partition retention")
    if detach_mode not in DETACH_MODES:
        raise InvalidArgument(f"detach_mode must be one of: {', '.join(DETACH_MODES)}.")
    if not timedelta(0) < detach_min_age <= MAX_DETACH_MIN_AGE:
        raise InvalidArgument("detach_min_age must be between 1 second and 3650 days.")
    with transaction.atomic(using=using):
        _partitioned_or_raise(name, using)
        seconds = int(detach_min_age.total_seconds())
        engine.set_queue_policy(
            name,
            {"detach_mode": detach_mode, "detach_min_age": f"{seconds} seconds"},
            using=using,
        )
        detail = {"detach_mode": detach_mode, "detach_min_age_seconds": seconds}
        record(
            principal,
            "update_partition_policy",
            queue=name,
            detail={"via": via, **detail} if via else detail,
        )


def drop_old_partitions(principal: Actor, name: str, *, using: str = "default") -> list[str]:
    """Create the weeks ahead, then detach and drop the partitions the policy allows (old
    and empty, detach_mode 'empty'); returns the partitions dropped (audited, also when
    none: the operator asked)."""
    principal.require_platform_admin("drop a queue's old partitions")
    with transaction.atomic(using=using):
        _partitioned_or_raise(name, using)
        try:
            with transaction.atomic(using=using), connections[using].cursor() as cursor:
                cursor.execute("select absurd_control.drop_old_partitions(%s)", [name])
                dropped = [row[0] for row in cursor.fetchall()]
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "55P03":
                raise
            raise PartitionsBusy(
                f"Queue {name} is busy (its tables stayed locked): nothing was dropped; try again."
            ) from exc
        record(principal, "drop_old_partitions", queue=name, detail={"dropped": dropped})
    return dropped
