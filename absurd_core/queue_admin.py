"""Queues as operators see and manage them: stats, policy, pause and resume.

Reads are tenant-scoped (counts of the tenant's own tasks). Changes act on a
queue every tenant shares, so callers check ``Actor.require_platform_admin`` (absurd_core.actors)
first. Pausing is ours, not the engine's: ``absurd_control.queue_pause``
(absurd_core/sql/pause.sql) gates our workers' claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import connections

from absurd_core import engine
from absurd_core.errors import InvalidArgument, QueueNotFound
from absurd_core.queries.queues import overview_stats
from absurd_core.queues import Pause, pauses
from absurd_core.tenancy import TenantScope


@dataclass(frozen=True)
class QueueInfo:
    name: str
    counts: dict[str, int]
    pause: Pause | None
    #: True when ``counts`` are estimates (huge tables; absurd_core/queries/queues.py).
    estimated: bool = False
    cleanup_ttl: timedelta | None = None
    cleanup_limit: int | None = None

    @property
    def paused(self) -> bool:
        return self.pause is not None


def _stats(scope: TenantScope, using: str):
    return overview_stats(scope, using=using)


def _info(summary, paused: dict[str, Pause], with_policy: bool, using: str):
    policy = engine.get_queue_policy(summary.name, using=using) if with_policy else None
    return QueueInfo(
        name=summary.name,
        counts=summary.counts,
        pause=paused.get(summary.name),
        estimated=summary.estimated,
        cleanup_ttl=policy.cleanup_ttl if policy else None,
        cleanup_limit=policy.cleanup_limit if policy else None,
    )


def list_queue_info(scope: TenantScope, *, using: str = "default") -> list[QueueInfo]:
    paused = pauses(using=using)
    return [_info(s, paused, False, using) for s in _stats(scope, using)]


def get_queue_info(scope: TenantScope, name: str, *, using: str = "default") -> QueueInfo:
    """Raises QueueNotFound (and InvalidQueueName for a name no queue can have)."""
    if not engine.queue_exists(name, using=using):
        raise QueueNotFound(f"No queue named {name!r}.")
    summary = next((s for s in _stats(scope, using) if s.name == name), None)
    if summary is None:  # dropped between the two reads
        raise QueueNotFound(f"No queue named {name!r}.")
    return _info(summary, pauses(using=using), True, using)


def _require_queue(name: str, using: str) -> None:
    if not engine.queue_exists(name, using=using):
        raise QueueNotFound(f"No queue named {name!r}.")


def pause_queue(name: str, paused_by: str, *, using: str = "default") -> bool:
    """Stop our workers claiming from ``name``. False if it was paused already."""
    _require_queue(name, using)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "insert into absurd_control.queue_pause (queue_name, paused_by) values (%s, %s)"
            " on conflict (queue_name) do nothing",
            [name, paused_by],
        )
        return cursor.rowcount == 1


def resume_queue(name: str, *, using: str = "default") -> bool:
    """Let workers claim from ``name`` again (they are woken at once). False if not paused."""
    _require_queue(name, using)
    with connections[using].cursor() as cursor:
        cursor.execute("delete from absurd_control.queue_pause where queue_name = %s", [name])
        return cursor.rowcount == 1


def update_cleanup_policy(
    name: str,
    *,
    cleanup_ttl: timedelta | None = None,
    cleanup_limit: int | None = None,
    using: str = "default",
) -> None:
    """Change how long finished tasks are kept, and how many one cleanup pass deletes."""
    _require_queue(name, using)
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
    engine.set_queue_policy(name, policy, using=using)
