"""Queues as operators manage them: policy, pause and resume (unaudited; the audited
actions are absurd_core.actions.queues).

The reads (``list_queue_info``, ``get_queue_info``) moved to absurd_core.queries.queues
and are re-exported here for one release. Changes act on a
queue every tenant shares, so callers check ``Actor.require_platform_admin`` (absurd_core.actors)
first. Pausing is ours, not the engine's: ``absurd_control.queue_pause``
(absurd_core/sql/pause.sql) gates our workers' claims.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connections

from absurd_core import engine
from absurd_core.errors import InvalidArgument, QueueNotFound
from absurd_core.queries.queues import QueueStats, get_queue_info, list_queue_info
from absurd_core.queues import pauses

#: Deprecated alias (one release): a queue is read as absurd_core.queries.queues.QueueStats;
#: ``list_queue_info`` and ``get_queue_info`` moved there too (re-exported here).
QueueInfo = QueueStats
__all__ = [
    "QueueInfo", "get_queue_info", "list_queue_info", "pause_queue", "pauses", "resume_queue",
    "update_cleanup_policy",
]  # fmt: skip


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
