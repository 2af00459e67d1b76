"""What a task filter or a selection of ids means, beyond one page of ``task_list``.

The runs page and its bulk actions need three more questions answered with the
same filter semantics as :func:`absurd_core.queries.task_list.list_tasks` (the same
conditions, the same search grammar, the same tenant filter):

- ``count_by_state``: how many tasks match, by state (for "Cancel 1,234 tasks
  matching ...?"), in one statement;
- ``newer_cursor``: the cursor of the page before a given one, so a list paged
  by keyset can step back ("Newer") as well as forward, without OFFSET (for an
  unindexed search, within one search window, as its pages read);
- ``tasks_by_id``: the selected ids that exist and that the scope may see (one
  primary-key probe per queue; another tenant's task is simply not found).

Table names are built only with ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from psycopg import sql

from absurd_core.engine import TASK_STATES, list_queues
from absurd_core.errors import InvalidArgument
from absurd_core.queries.task_list import (
    TaskFilter,
    TaskRow,
    decode_cursor,
    encode_cursor,
    filter_conditions,
    search_window,
    selected_queues,
    task_row,
    window_conditions,
    windowed,
)
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues

#: The columns of a TaskRow, in ``task_list.task_row``'s order (after the queue).
_ROW_COLUMNS = sql.SQL(
    "task_id, task_name, state, headers->>'tenant', attempts, max_attempts, enqueue_at,"
    " first_started_at, idempotency_key"
)


def _check_states(filters: TaskFilter) -> None:
    unknown = [s for s in filters.states if s not in TASK_STATES]
    if unknown:
        raise InvalidArgument(f"Unknown state {unknown[0]!r}; states are {', '.join(TASK_STATES)}.")


def _fetch(query: sql.Composable, params: list, using: str) -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        return cursor.fetchall()


def count_by_state(
    scope: TenantScope, filters: TaskFilter | None = None, *, using: str = "default"
) -> dict[str, int]:
    """How many tasks match ``filters`` in ``scope``, by state (every state present, 0 or more).

    Raises QueueNotFound and InvalidArgument as list_tasks does.
    """
    filters = filters or TaskFilter()
    _check_states(filters)
    counts = dict.fromkeys(TASK_STATES, 0)
    queues = selected_queues(filters.queues, using)
    if not queues:
        return counts

    def part(queue: str) -> tuple[sql.Composable, list]:
        where, values = filter_conditions(queue, scope, filters)
        return sql.SQL("(select state from absurd.{} where {})").format(
            sql.Identifier(f"t_{queue}"), where
        ), values

    union, params = union_over_queues(queues, part)
    query = sql.SQL("select state, count(*) from ({}) matching group by state").format(union)
    for state, count in _fetch(query, params, using):
        counts[state] = count
    return counts


@dataclass(frozen=True)
class NewerPage:
    #: False when nothing newer matches: the page is the first one.
    exists: bool
    #: The newer page's cursor; None when the newer page is the first page.
    cursor: str | None


def newer_cursor(
    scope: TenantScope,
    filters: TaskFilter,
    cursor: str,
    *,
    limit: int,
    using: str = "default",
) -> NewerPage:
    """The page before the one ``cursor`` opens (``list_tasks(..., cursor=cursor)``).

    That page holds the ``limit`` matching tasks just newer than the cursor: the
    oldest ``limit`` of ``task_id >= cursor``, read in ascending order by keyset,
    so its cost does not grow with the page number.
    """
    _check_states(filters)
    boundary = decode_cursor(cursor)
    queues = selected_queues(filters.queues, using)
    if not queues:
        return NewerPage(False, None)
    if windowed(filters):
        return _newer_window(scope, filters, boundary, queues, limit=limit, using=using)

    def part(queue: str) -> tuple[sql.Composable, list]:
        where, values = filter_conditions(queue, scope, filters)
        return sql.SQL(
            "(select task_id from absurd.{} where {} and task_id >= %s order by task_id limit %s)"
        ).format(sql.Identifier(f"t_{queue}"), where), [*values, boundary, limit + 1]

    union, params = union_over_queues(queues, part)
    query = sql.SQL("select task_id from ({}) newer order by task_id limit %s").format(union)
    params.append(limit + 1)
    ids = [row[0] for row in _fetch(query, params, using)]
    if not ids:
        return NewerPage(False, None)
    if len(ids) <= limit:
        return NewerPage(True, None)
    # list_tasks(cursor=c) shows task_id < c: start just above the newer page's newest row.
    return NewerPage(True, encode_cursor(ids[limit]))


def _newer_window(
    scope: TenantScope,
    filters: TaskFilter,
    boundary: UUID,
    queues: list[str],
    *,
    limit: int,
    using: str,
) -> NewerPage:
    """``newer_cursor`` for an unindexed search, bounded as its pages are: read the window
    just above the boundary (``search_window()`` tasks matching the indexed filters, oldest
    first). More than ``limit`` matches in it: the newer page is exactly those ``limit``.
    Fewer: the newer page is that window (its cursor is the task just above it), or the
    first page when no task lies above it."""
    size = search_window()

    def part(queue: str) -> tuple[sql.Composable, list]:
        where, values = window_conditions(queue, scope, filters)  # the bound; the hits exactly:
        hit, hit_values = filter_conditions(queue, scope, filters)
        return sql.SQL(
            "(select task_id, ({}) as hit from absurd.{} where {} and task_id >= %s"
            " order by task_id limit %s)"
        ).format(hit, sql.Identifier(f"t_{queue}"), where), [
            *hit_values, *values, boundary, size + 1,
        ]  # fmt: skip

    union, params = union_over_queues(queues, part)
    # Numbered oldest first: the matches up to limit + 1, and the task just above the window.
    query = sql.SQL(
        "select task_id, hit, n from (select task_id, hit,"
        " row_number() over (order by task_id) as n,"
        " count(*) filter (where hit) over (order by task_id) as hits"
        " from (select task_id, hit from ({}) w order by task_id limit %s) up) numbered"
        " where n = 1 or n = %s or (hit and hits <= %s) order by task_id"
    ).format(union)
    params.extend([size + 1, size + 1, limit + 1])
    rows = _fetch(query, params, using)
    if not rows:
        return NewerPage(False, None)
    hits = [task_id for task_id, hit, _ in rows if hit]
    if len(hits) > limit:
        return NewerPage(True, encode_cursor(hits[limit]))
    above = [task_id for task_id, _, n in rows if n == size + 1]
    return NewerPage(True, encode_cursor(above[0]) if above else None)


def tasks_by_id(
    scope: TenantScope, task_ids: Sequence[UUID], *, using: str = "default"
) -> list[TaskRow]:
    """The tasks among ``task_ids`` that exist and are in ``scope``, newest first."""
    ids = list(dict.fromkeys(task_ids))
    queues = list_queues(using=using)
    if not ids or not queues:
        return []
    tenant_where, tenant_params = tenant_filter(scope)
    union, params = union_over_queues(
        queues,
        lambda queue: (
            sql.SQL(
                "(select %s::text as queue, {} from absurd.{} where task_id = any(%s::uuid[])"
                " and {})"
            ).format(_ROW_COLUMNS, sql.Identifier(f"t_{queue}"), tenant_where),
            [queue, ids, *tenant_params],
        ),
    )
    query = sql.SQL("select * from ({}) selected order by task_id desc").format(union)
    return [task_row(*row) for row in _fetch(query, params, using)]
