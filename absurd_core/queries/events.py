"""Emitted events, newest first, with their payloads and the tasks they woke.

Where the data is:

- The event log (``TaskEvent``) has one ``event_emitted`` row per first emit
  of a name on a queue (the e_<queue> trigger), with the name, the time and
  ``detail.payload_bytes``; the trigger passes no tenant, so the row's tenant
  is NULL. Reading ``tenant is null`` makes the newest-first scan use the
  ``task_event_tenant_recent`` index (tenant, id desc) instead of the table.
- The payload itself is only in absurd's ``e_<queue>`` table (primary key
  ``event_name``): one probe per event, and only a prefix of a huge payload
  leaves the database.
- The tasks an emit woke: ``emit_event`` moves each waiting task to pending in
  the same transaction, and the trigger logs a ``woken`` row with reason
  ``event <name>`` and the transaction's id (``txid``), after the emit's own
  row. So the waiters of an event are the ``woken`` rows of its transaction
  that follow it (``txid = e.txid and id > e.id``: a range of the
  ``task_event_txid`` index), not a scan of every wait ever logged. absurd's ``w_<queue>`` does
  not help here: emit_event deletes the waits it satisfies. Tasks that await an
  event after it was emitted get the payload at once and never wait; a wait
  that timed out before the emit woke no one: neither is listed.

Tenancy: events belong to queues, not tenants. A tenant sees the events in its
own namespace (``tenant:<slug>:...``, what the API, its tasks and its operators
emit for it, see absurd_core.event_names) and any event that woke one of its own
tasks (an approval decision's ``approval:<random>:<task id>``, a raw name another
client's task awaited); of the woken tasks, only its own. Nothing here depends on
the form of an approval's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from psycopg import sql

from absurd_core.emitting import tenant_event_name
from absurd_core.engine import list_queues
from absurd_core.formatting import pretty_json
from absurd_core.queries.paging import split_page
from absurd_core.read_routing import connections
from absurd_core.tenancy import TenantScope, union_over_queues

PAGE_SIZE = 50
#: Characters of a payload shown; longer ones are cut (the size is shown).
PAYLOAD_PREVIEW = 2000
#: Woken tasks listed per event (the count is always complete).
WAITERS_SHOWN = 10

EVENT_LOG = sql.Identifier("public", "absurd_control_task_event")


@dataclass(frozen=True)
class EventFilter:
    #: Matched against the stored name; for a tenant, also against ``tenant:<slug>:<name>``.
    name: str = ""
    exact: bool = False
    queue: str | None = None
    emitted_after: datetime | None = None
    emitted_before: datetime | None = None


@dataclass(frozen=True)
class Waiter:
    task_id: UUID
    tenant: str | None
    woken_at: datetime


@dataclass
class EmittedEvent:
    id: int
    queue: str
    name: str
    emitted_at: datetime
    payload_bytes: int | None
    #: The payload as JSON text (pretty when it fits), or None when it is gone.
    payload: str | None = None
    truncated: bool = False
    waiters: list[Waiter] = field(default_factory=list)
    waiter_count: int = 0


@dataclass(frozen=True)
class EventPage:
    items: list[EmittedEvent]
    #: Pass back as ``before`` for the next (older) page; None on the last page.
    next_before: int | None


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _name_condition(scope: TenantScope, flt: EventFilter) -> tuple[sql.Composable, list]:
    names = [flt.name]
    if not scope.is_all and not flt.name.startswith("tenant:"):
        # A tenant types the names it emitted, without its namespace.
        names.append(tenant_event_name(scope.slug, flt.name))
    if flt.exact:
        return sql.SQL("e.event_name = any(%s)"), [names]
    return sql.SQL("e.event_name like any(%s)"), [[_like_prefix(n) for n in names]]


def _tenant_condition(scope: TenantScope) -> tuple[sql.Composable, list]:
    if scope.is_all:
        return sql.SQL("true"), []
    condition = sql.SQL(
        "(e.event_name like %s or exists ("
        " select 1 from {log} w where w.txid = e.txid and w.id > e.id and w.queue = e.queue"
        " and w.kind = 'woken' and w.tenant = %s and w.reason = 'event ' || e.event_name))"
    ).format(log=EVENT_LOG)
    return condition, [_like_prefix(tenant_event_name(scope.slug, "")), scope.slug]


def list_events(
    scope: TenantScope,
    flt: EventFilter,
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
    using: str = "default",
) -> EventPage:
    """Emitted events of ``scope`` that ``flt`` selects, newest first (keyset on the id)."""
    conditions: list[sql.Composable] = [
        sql.SQL("e.tenant is null"),
        sql.SQL("e.kind = 'event_emitted'"),
    ]
    params: list = []
    if flt.queue:
        conditions.append(sql.SQL("e.queue = %s"))
        params.append(flt.queue)
    if flt.emitted_after:
        conditions.append(sql.SQL("e.created_at >= %s"))
        params.append(flt.emitted_after)
    if flt.emitted_before:
        conditions.append(sql.SQL("e.created_at < %s"))
        params.append(flt.emitted_before)
    if before is not None:
        conditions.append(sql.SQL("e.id < %s"))
        params.append(before)
    if flt.name:
        condition, extra = _name_condition(scope, flt)
        conditions.append(condition)
        params.extend(extra)
    condition, extra = _tenant_condition(scope)
    conditions.append(condition)
    params.extend(extra)
    query = sql.SQL(
        "select e.id, e.queue, e.event_name, e.created_at, (e.detail->>'payload_bytes')::bigint"
        " from {log} e where {where} order by e.id desc limit %s"
    ).format(log=EVENT_LOG, where=sql.SQL(" and ").join(conditions))
    params.append(limit + 1)
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        rows = cursor.fetchall()
    rows, more = split_page(rows, limit)
    items = [EmittedEvent(*row) for row in rows]
    if items:
        _add_payloads(items, using)
        _add_waiters(scope, items, using)
    return EventPage(items, items[-1].id if more else None)


def _add_payloads(items: list[EmittedEvent], using: str) -> None:
    """Each event's payload from its queue's e_ table: one statement for the page."""
    existing = set(list_queues(using=using))
    by_queue: dict[str, list[str]] = {}
    for item in items:
        if item.queue in existing:
            by_queue.setdefault(item.queue, []).append(item.name)
    if not by_queue:
        return
    query, params = union_over_queues(
        by_queue,
        lambda queue: (
            sql.SQL(
                "select %s::text, event_name, left(payload::text, %s), length(payload::text)"
                " from absurd.{} where event_name = any(%s) and payload is not null"
            ).format(sql.Identifier(f"e_{queue}")),
            [queue, PAYLOAD_PREVIEW, by_queue[queue]],
        ),
    )
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        found = {(queue, name): (text, size) for queue, name, text, size in cursor.fetchall()}
    for item in items:
        if (item.queue, item.name) not in found:
            continue
        text, size = found[(item.queue, item.name)]
        item.truncated = size > PAYLOAD_PREVIEW
        item.payload = text if item.truncated else pretty_json(text)


def _add_waiters(scope: TenantScope, items: list[EmittedEvent], using: str) -> None:
    """The tasks each event woke (``woken`` rows of the emit's transaction): how many,
    and the first WAITERS_SHOWN of them."""
    woken = sql.SQL(
        "w.txid = e.txid and w.id > e.id and w.queue = e.queue and w.kind = 'woken'"
        " and w.reason = 'event ' || e.event_name and {tenant}"
    ).format(tenant=sql.SQL("true") if scope.is_all else sql.SQL("w.tenant = %s"))
    tenant_params = [] if scope.is_all else [scope.slug]
    query = sql.SQL(
        "select e.id, c.n, w.task_id, w.tenant, w.created_at from {log} e"
        " cross join lateral (select count(*) as n from {log} w where {woken}) c"
        " left join lateral (select w.task_id, w.tenant, w.created_at, w.id from {log} w"
        "  where {woken} order by w.id limit %s) w on true"
        " where e.id = any(%s) order by e.id, w.id"
    ).format(log=EVENT_LOG, woken=woken)
    by_id = {item.id: item for item in items}
    params = [*tenant_params, *tenant_params, WAITERS_SHOWN, list(by_id)]
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection), params)
        for event_id, count, task_id, tenant, woken_at in cursor.fetchall():
            item = by_id[event_id]
            item.waiter_count = count
            if task_id is not None:
                item.waiters.append(Waiter(task_id, tenant, woken_at))
