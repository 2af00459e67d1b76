"""What the task page shows beyond ``find_task``: checkpoint values and who claimed each run.

Checkpoint values can be huge (a step may return megabytes), so the preview is
cut in SQL (``left(state::text, n)``, with ``octet_length`` for the full size):
a huge value never leaves the database. Both queries join the task table for
the tenant filter, so another tenant's task id yields nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import sql

from absurd_core.formatting import pretty_json
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, tenant_filter

#: Characters of a checkpoint value shown; longer values are cut to this.
PREVIEW_CHARS = 10 * 1024
#: Checkpoints listed with their values, oldest first; the rest are counted.
MAX_CHECKPOINTS = 100


@dataclass(frozen=True)
class CheckpointValue:
    name: str
    status: str
    updated_at: datetime
    owner_run_id: UUID | None
    #: Size of the whole value as JSON text, in bytes (None for an SQL NULL state).
    size: int | None
    #: The value as JSON text, cut to the preview length when ``truncated``.
    text: str | None
    truncated: bool

    @property
    def key(self) -> str:
        """Stable while the checkpoint is unchanged: an HTML id for the page."""
        digest = hashlib.sha1(self.name.encode(), usedforsecurity=False).hexdigest()[:12]
        return f"cp-{digest}-{int(self.updated_at.timestamp() * 1_000_000)}"

    @property
    def pretty(self) -> str:
        """Indented JSON when the whole value is here; the raw cut text otherwise."""
        if self.text is None:
            return "null"
        if self.truncated:
            return self.text
        return pretty_json(self.text)


@dataclass(frozen=True)
class Checkpoints:
    items: list[CheckpointValue]
    #: How many checkpoints the task has in all (``items`` holds at most MAX_CHECKPOINTS).
    total: int


def _tables(queue: str, prefix: str) -> tuple[sql.Identifier, sql.Identifier]:
    return sql.Identifier(f"{prefix}_{queue}"), sql.Identifier(f"t_{queue}")


def checkpoint_values(
    scope: TenantScope,
    queue: str,
    task_id: UUID,
    *,
    preview_chars: int = PREVIEW_CHARS,
    limit: int = MAX_CHECKPOINTS,
    using: str = "default",
) -> Checkpoints:
    """The task's checkpoints with their values, oldest first, each cut to ``preview_chars``."""
    checkpoints, tasks = _tables(queue, "c")
    where, where_params = tenant_filter(scope)
    query = sql.SQL(
        "select c.checkpoint_name, c.status, c.updated_at, c.owner_run_id,"
        " octet_length(v.txt), left(v.txt, %s), char_length(v.txt) > %s,"
        " count(*) over ()"
        " from absurd.{} c join absurd.{} t on t.task_id = c.task_id"
        " cross join lateral (select c.state::text as txt) v"
        " where c.task_id = %s and {}"
        " order by c.updated_at, c.checkpoint_name limit %s"
    ).format(checkpoints, tasks, where)
    params = [preview_chars, preview_chars, task_id, *where_params, limit]
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        rows = cursor.fetchall()
    items = [
        CheckpointValue(name, status, at, owner, size, text, bool(cut))
        for name, status, at, owner, size, text, cut, _ in rows
    ]
    return Checkpoints(items, rows[0][7] if rows else 0)


def run_claims(
    scope: TenantScope, queue: str, task_id: UUID, *, using: str = "default"
) -> dict[UUID, str | None]:
    """Each run's ``claimed_by`` (the worker id), by run id."""
    runs, tasks = _tables(queue, "r")
    where, where_params = tenant_filter(scope)
    query = sql.SQL(
        "select r.run_id, r.claimed_by from absurd.{} r join absurd.{} t on t.task_id = r.task_id"
        " where r.task_id = %s and {}"
    ).format(runs, tasks, where)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), [task_id, *where_params])
        return dict(cursor.fetchall())
