"""Lists of tasks, newest first, filtered and paged by keyset: for the API and the dashboard.

Absurd's task ids are UUIDv7, so ordering by ``task_id desc`` is newest
spawn first, uses the primary key (and our per-tenant index on
``(tenant, state, task_id desc)``), and a page boundary is one id: the next
page is ``task_id < cursor``. There is never an OFFSET, so page 10,000 costs
what page 1 does. A time range becomes a task-id range the same way.

Several queues are read in one statement: each queue's part is ordered and
limited on its own, and the union is merged and limited again.

Search (``TaskFilter.search``), whitespace-separated terms, all of which must match:

- a UUID: the task id, or the id of one of its runs;
- ``params.<path>:<value>`` or ``headers.<path>:<value>`` (``<path>`` may be
  dotted for nested keys): that JSON field's text equals the value;
- ``parent:<task id>`` / ``root:<task id>``: the children of a task / every descendant
  of a root task (the relationship headers, absurd_core/children.py; answered by the
  per-queue ``ac_parent_`` / ``ac_root_`` indexes);
- ``<key>:<value>``: the same as ``params.<key>:<value>``;
- anything else: the idempotency key, exactly.

Values may be quoted (``params.note:"two words"``). Search never fails: a term
that is none of the above, an unclosed quote included, is taken literally.

A params or headers value has no index (a GIN index on every queue's params would
make every task write pay for it). So a search whose terms are all such values
reads a *window*: the newest ``search_window()`` tasks below the cursor that match
the indexed filters (tenant, queue, state, name, time), across the selected queues.
A page holds the matches inside it; when it holds fewer than the limit, its
``next_cursor`` is the window's edge ("search older") and ``window_edge`` says how
far back it read. A page's cost is bounded by the window, however rare the value.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from django.conf import settings
from psycopg import sql

from absurd_core.children import PARENT, ROOT
from absurd_core.engine import TASK_STATES, list_queues
from absurd_core.errors import InvalidArgument, QueueNotFound
from absurd_core.index_keys import text_equals, text_prefix_equals
from absurd_core.queries.paging import split_page
from absurd_core.read_routing import connections
from absurd_core.spawning import tenant_key_of
from absurd_core.tenancy import TenantScope, tenant_filter, union_over_queues

MAX_LIMIT = 200
#: How many tasks one page of an unindexed search reads (settings.ABSURD_SEARCH_WINDOW).
DEFAULT_SEARCH_WINDOW = 20_000
#: A cursor is a task id (16 bytes) in unpadded base64url.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{21}[AQgw]$"


@dataclass(frozen=True)
class TaskFilter:
    queues: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    task_name: str | None = None
    spawned_after: datetime | None = None
    spawned_before: datetime | None = None
    search: str = ""


@dataclass(frozen=True)
class TaskRow:
    queue: str
    task_id: UUID
    task_name: str
    state: str
    tenant: str | None
    attempts: int
    max_attempts: int | None
    enqueue_at: datetime
    first_started_at: datetime | None
    idempotency_key: str | None
    #: A pending task's delayed start still ahead (spawn(run_after=...)); list_tasks only.
    starts_at: datetime | None = None
    #: A finished task's end (its last attempt's completed_at or failed_at, or the task's
    #: cancelled_at); list_tasks only. With first_started_at: the runs list's duration.
    ended_at: datetime | None = None


@dataclass(frozen=True)
class TaskPage:
    items: list[TaskRow]
    #: Pass back as ``cursor`` for the next (older) page; None on the last page.
    next_cursor: str | None
    queues: list[str] = field(default_factory=list)
    #: Set when an unindexed search stopped at its window (module docstring) before the
    #: page was full: the spawn time of the oldest task it read. ``next_cursor`` then
    #: searches the next window, older than that.
    window_edge: datetime | None = None


def search_window() -> int:
    """How many tasks one page of an unindexed search reads at most."""
    return max(1, int(getattr(settings, "ABSURD_SEARCH_WINDOW", DEFAULT_SEARCH_WINDOW)))


def task_row(
    queue, task_id, name, state, tenant, attempts, max_attempts, enqueued, started, key,
    starts=None, ended=None,
):  # fmt: skip
    key = tenant_key_of(tenant, key)
    return TaskRow(
        queue, task_id, name, state, tenant, attempts, max_attempts, enqueued, started, key,
        starts, ended,
    )  # fmt: skip


def encode_cursor(task_id: UUID) -> str:
    return base64.urlsafe_b64encode(task_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise InvalidArgument("The cursor is not one this API gave out.") from None


def uuid7_time(task_id: UUID) -> datetime:
    """The spawn time (millisecond precision) a UUIDv7 task id carries."""
    return datetime.fromtimestamp((task_id.int >> 80) / 1000, tz=UTC)


def uuid7_floor(moment: datetime) -> UUID:
    """The smallest UUIDv7 of a task spawned at ``moment`` (millisecond precision)."""
    millis = min(max(int(moment.timestamp() * 1000), 0), (1 << 48) - 1)  # no task is older
    return UUID(int=millis << 80)


def _search_terms(search: str) -> list[str]:
    try:
        return shlex.split(search)
    except ValueError:  # an unclosed quote: take the words as they are
        return search.split()


def _key_condition(term: str, scope: TenantScope) -> tuple[sql.Composable, list]:
    """Keys are stored as ``<tenant>/<key>`` (absurd_core.spawning.tenant_idempotency_key)."""
    if not scope.is_all:
        return sql.SQL("idempotency_key = %s"), [f"{scope.slug}/{term}"]
    # Every tenant's spelling of the key: one index probe per tenant, no pattern scan.
    return (
        sql.SQL("idempotency_key = any(array(select slug || '/' || %s from tenants_tenant))"),
        [term],
    )


def _field_term(term: str) -> tuple[str, list[str]] | None:
    """``(column, path)`` of a params or headers search term, None for any other kind."""
    key, sep, value = term.partition(":")
    if _is_uuid(term) or not (sep and key) or (key in RELATIONSHIP_QUALIFIERS and _is_uuid(value)):
        return None
    head, _, rest = key.partition(".")
    column, path = (head, rest) if head in ("params", "headers") else ("params", key)
    # "params.:x" names no field: it is searched for as a key, which finds nothing useful.
    return (column, path.split(".")) if path else None


def _term_condition(
    term: str, runs_table: sql.Identifier, scope: TenantScope
) -> tuple[sql.Composable, list]:
    if _is_uuid(term):
        # One array of candidate ids, so the primary key serves it (an OR with a
        # subquery would scan the whole table: 200 ms at a million tasks).
        as_uuid = UUID(term)
        return (
            sql.SQL(
                "task_id = any(array[%s::uuid] || array(select task_id from absurd.{}"
                " where run_id = %s))"
            ).format(runs_table),
            [as_uuid, as_uuid],
        )
    key, _, value = term.partition(":")
    if key in RELATIONSHIP_QUALIFIERS and _is_uuid(value):
        return relationship_condition(RELATIONSHIP_QUALIFIERS[key], value)
    field_term = _field_term(term)
    if field_term is not None:
        column, parts = field_term
        return sql.SQL("{} #>> %s = %s").format(sql.Identifier(column)), [parts, value]
    return _key_condition(term, scope)


def windowed(filters: TaskFilter) -> bool:
    """Whether ``filters``' search reads a window: it has terms, and every one is a params
    or headers value (any other term is answered by an index and narrows the search)."""
    terms = _search_terms(filters.search)
    return bool(terms) and all(_field_term(term) is not None for term in terms)


#: Search qualifiers over the relationship headers (a value that is no uuid is a params search).
RELATIONSHIP_QUALIFIERS = {"parent": PARENT, "root": ROOT}


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def relationship_condition(header: str, task_id: object) -> tuple[sql.Composable, list]:
    """``headers-><header> = task_id``, in the form the partial ``ac_parent_``/``ac_root_``
    indexes answer (children.sql)."""
    value = str(UUID(str(task_id)))
    condition, values = text_equals(f"headers->>'{header}'", value)
    return sql.SQL("headers ? {} and ").format(sql.Literal(header)) + condition, values


def selected_queues(scope_queues: tuple[str, ...], using: str) -> list[str]:
    existing = list_queues(using=using)
    if not scope_queues:
        return existing
    missing = [q for q in scope_queues if q not in existing]
    if missing:
        raise QueueNotFound(f"No queue named {missing[0]!r}.")
    return [q for q in existing if q in scope_queues]


def filter_conditions(
    queue: str, scope: TenantScope, filters: TaskFilter, *, exact: bool = True
) -> tuple[sql.Composable, list]:
    """The WHERE clause of ``filters`` (and the tenant) for one queue's task table, no cursor.

    ``exact=False`` compares the tenant and the task name by their index prefix only
    (index_keys.text_prefix_equals): a superset, for a search window's bound only.
    """
    tenant_where, tenant_params = tenant_filter(scope, exact=exact)
    conditions: list[sql.Composable] = [tenant_where]
    values: list = list(tenant_params)
    if filters.states:
        conditions.append(sql.SQL("state = any(%s)"))
        values.append(list(filters.states))
    if filters.task_name:
        # Answered by the ac_name_pfx_ index (absurd_core/index_keys.py).
        equals = text_equals if exact else text_prefix_equals
        condition, name_values = equals("task_name", filters.task_name)
        conditions.append(condition)
        values.extend(name_values)
    if filters.spawned_after:
        conditions.append(sql.SQL("task_id >= %s"))
        values.append(uuid7_floor(filters.spawned_after))
    if filters.spawned_before:
        conditions.append(sql.SQL("task_id < %s"))
        values.append(uuid7_floor(filters.spawned_before))
    for term in _search_terms(filters.search):
        condition, term_values = _term_condition(term, sql.Identifier(f"r_{queue}"), scope)
        conditions.append(condition)
        values.extend(term_values)
    return sql.SQL(" and ").join(conditions), values


def list_tasks(
    scope: TenantScope,
    filters: TaskFilter = TaskFilter(),
    *,
    cursor: str | None = None,
    limit: int = 50,
    using: str = "default",
) -> TaskPage:
    """A page of tasks for ``scope``, newest first. Raises InvalidArgument, QueueNotFound."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}.")
    unknown = [s for s in filters.states if s not in TASK_STATES]
    if unknown:
        raise InvalidArgument(f"Unknown state {unknown[0]!r}; states are {', '.join(TASK_STATES)}.")
    queues = selected_queues(filters.queues, using)
    if not queues:
        return TaskPage([], None, [])
    edge = window_edge(queues, scope, filters, cursor, using=using) if windowed(filters) else None

    def part(queue: str) -> tuple[sql.Composable, list]:
        where, values = filter_conditions(queue, scope, filters)
        conditions, values = [where], [queue, *values]
        if cursor:
            conditions.append(sql.SQL("task_id < %s"))
            values.append(decode_cursor(cursor))
        if edge is not None:
            conditions.append(sql.SQL("task_id >= %s"))
            values.append(edge)
        # A pending task's delayed start: one primary-key probe of its run, for the page's
        # pending rows only, outside the limited select. Inside its select list, the probe's
        # cost changed the generic plan PostgreSQL settles on once the statement is prepared
        # (after 5 runs): the task-name filter walked the whole table backwards, 150 ms at a
        # million tasks instead of 2 (bench/dashboard.py, "list_tasks: task=orders.audit").
        return sql.SQL(
            "(select queue, task_id, task_name, state, tenant, attempts, max_attempts,"
            " enqueue_at, first_started_at, idempotency_key,"
            " case when state = 'pending' then (select r.available_at from absurd.{} r"
            "  where r.run_id = t.last_attempt_run and r.state = 'pending'"
            "  and r.available_at > absurd.current_time()) end,"
            # A finished task's end: the same primary-key probe, for finished rows only.
            " case when state = 'cancelled' then cancelled_at"
            "  when state in ('completed', 'failed') then (select coalesce(r.completed_at,"
            "  r.failed_at) from absurd.{} r where r.run_id = t.last_attempt_run) end"
            " from (select %s::text as queue, task_id, task_name, state,"
            "  headers->>'tenant' as tenant, attempts, max_attempts, enqueue_at,"
            "  first_started_at, idempotency_key, last_attempt_run, cancelled_at"
            "  from absurd.{} where {} order by task_id desc limit %s) t)"
        ).format(
            sql.Identifier(f"r_{queue}"),
            sql.Identifier(f"r_{queue}"),
            sql.Identifier(f"t_{queue}"),
            sql.SQL(" and ").join(conditions),
        ), [
            *values,
            limit + 1,
        ]

    union, params = union_over_queues(queues, part)
    query = sql.SQL("select * from ({}) page order by task_id desc limit %s").format(union)
    params.append(limit + 1)
    with connections[using].cursor() as db_cursor:
        db_cursor.execute(query.as_string(db_cursor.connection), params)
        rows, more = split_page([task_row(*row) for row in db_cursor.fetchall()], limit)
    if more:
        return TaskPage(rows, encode_cursor(rows[-1].task_id), queues)
    if edge is not None:
        # The window ran out before the page filled: the next page searches below it.
        return TaskPage(rows, encode_cursor(edge), queues, window_edge=uuid7_time(edge))
    return TaskPage(rows, None, queues)


def window_conditions(
    queue: str, scope: TenantScope, filters: TaskFilter
) -> tuple[sql.Composable, list]:
    """What bounds an unindexed search's window in one queue's task table: ``filters``
    without the search, the tenant and name by their index prefix. PostgreSQL then picks the
    right plan (index_keys.text_prefix_equals); a task that only shares a 256-character
    prefix makes the window one task narrower, no more (the page itself filters exactly)."""
    return filter_conditions(queue, scope, dataclasses.replace(filters, search=""), exact=False)


def window_edge(
    queues: list[str],
    scope: TenantScope,
    filters: TaskFilter,
    cursor: str | None,
    *,
    using: str = "default",
) -> UUID | None:
    """The oldest task id of an unindexed search's window below ``cursor``: the
    ``search_window()``-th newest task matching the indexed filters across ``queues``.
    None when no more tasks than that are left: the search then reads them all.

    Each queue's part walks its own index newest first and stops at the window's size,
    and the merged list stops there too: the cost is the window's, not the queue's.
    """
    size = search_window()

    def part(queue: str) -> tuple[sql.Composable, list]:
        where, values = window_conditions(queue, scope, filters)
        if cursor:
            where = sql.SQL("{} and task_id < %s").format(where)
            values.append(decode_cursor(cursor))
        return sql.SQL(
            "(select task_id from absurd.{} where {} order by task_id desc limit %s)"
        ).format(sql.Identifier(f"t_{queue}"), where), [*values, size + 1]

    union, params = union_over_queues(queues, part)
    # The window's last task and the one below it, if any: without it, nothing is left.
    query = sql.SQL("select task_id from ({}) w order by task_id desc offset %s limit 2").format(
        union
    )
    params.append(size - 1)
    with connections[using].cursor() as db_cursor:
        db_cursor.execute(query.as_string(db_cursor.connection), params)
        rows = db_cursor.fetchall()
    return rows[0][0] if len(rows) == 2 else None
