"""Plugin lifecycle listeners, fed from the task event log after commit.

A listener is a callable ``f(event: LifecycleEvent)`` that a plugin names in
``PluginConfig.lifecycle_listeners``. ``dispatch`` hands each listener every
event-log row committed since it last ran, in order, at least once: the cursor
(absurd_core.models.ListenerCursor) moves after the callable returns, so a
crash between the two repeats that one event. Listeners are therefore for
reactions that tolerate a repeat (spawn a task with an idempotency key, bump a
counter); the event log, not the listener, is where the fact lives.

Order and completeness come from the transaction id each row records
(absurd_core/sql/lifecycle.sql): only rows written by transactions older than
every one still running in this database are read, in (txid, id) order
(``absurd_control.feed_horizon()``, absurd_core/sql/feed.sql: a transaction in
another database of the same server cannot write the log, so it does not hold
the feed back).

A listener that raises is called again with the same event on the next pass;
after ``MAX_FAILURES`` in a row the event is skipped for that listener, with an
error in the log, so one poison event cannot stop it for good. A new listener
starts at the present: it is not fed the history before it was installed.

Every runworker runs ``dispatch`` about once a second (absurd_core/worker/
lifecycle_pump.py); a session-level advisory lock per listener keeps two workers
from feeding the same listener at once. No transaction is open while listener
code runs.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from django.apps import apps
from django.db import connections
from django.utils.module_loading import import_string
from psycopg.rows import dict_row

logger = logging.getLogger("absurd_core.listeners")

MAX_FAILURES = 5
BATCH = 500

Listener = Callable[["LifecycleEvent"], Any]


@dataclass(frozen=True)
class LifecycleEvent:
    """One row of the event log (absurd_core.models.TaskEvent)."""

    id: int
    tenant: str | None
    queue: str
    task_id: UUID | None
    run_id: UUID | None
    attempt: int | None
    #: spawned, claimed, deferred, sleeping, woken, completed, retry_scheduled,
    #: failed, cancelled, retried or event_emitted.
    kind: str
    from_state: str | None
    to_state: str | None
    event_name: str | None
    reason: str | None
    detail: Any
    created_at: datetime


def registered_listeners() -> list[tuple[str, Listener]]:
    """(name, callable) for every listener an installed app declares, in app order.

    Collected by app-config attribute, like ``tasks`` modules: an app config's
    ``lifecycle_listeners`` (dotted paths; plugins.base.PluginConfig declares it and
    loads them with clear errors through ``load_listeners()``).
    """
    found: list[tuple[str, Listener]] = []
    for app_config in apps.get_app_configs():
        load = getattr(app_config, "load_listeners", None)
        if load is not None:
            found.extend(load())
        else:
            paths = getattr(app_config, "lifecycle_listeners", ())
            found.extend((path, import_string(path)) for path in paths)
    return found


_START = """
insert into absurd_control_listener_cursor (listener, last_txid, last_id, failures, last_error,
                                            updated_at)
values (%s, (select absurd_control.feed_horizon())::text::bigint, 0, 0, '', now())
on conflict (listener) do nothing
"""
_CURSOR = (
    "select last_txid, last_id, failures from absurd_control_listener_cursor where listener = %s"
)
_EVENTS = """
select txid::text::bigint as txid, id, tenant, queue, task_id, run_id, attempt, kind,
       from_state, to_state, event_name, reason, detail, created_at
  from absurd_control_task_event
 where (txid, id) > (%s::text::xid8, %s)
   and txid < (select absurd_control.feed_horizon())
 order by txid, id
 limit %s
"""
_ADVANCE = """
update absurd_control_listener_cursor
   set last_txid = %s, last_id = %s, failures = 0, last_error = '', updated_at = now()
 where listener = %s
"""
_FAILED = """
update absurd_control_listener_cursor
   set failures = failures + 1, last_error = %s, updated_at = now()
 where listener = %s
"""


def dispatch(conn: psycopg.Connection, listeners=None, *, batch: int = BATCH) -> int:
    """One pass: feed every listener what it has not seen yet. Returns events delivered.

    ``conn`` must be in autocommit mode (each statement its own transaction).
    """
    delivered = 0
    for name, callback in registered_listeners() if listeners is None else listeners:
        delivered += _feed(conn, name, callback, batch)
    return delivered


def _feed(conn: psycopg.Connection, name: str, callback: Listener, batch: int) -> int:
    lock = f"absurd_control.listener:{name}"
    if not conn.execute("select pg_try_advisory_lock(hashtext(%s))", (lock,)).fetchone()[0]:
        return 0  # another worker is feeding this listener right now
    try:
        conn.execute(_START, (name,))
        last_txid, last_id, failures = conn.execute(_CURSOR, (name,)).fetchone()
        with conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(_EVENTS, (last_txid, last_id, batch)).fetchall()
        delivered = 0
        for row in rows:
            txid = row.pop("txid")
            event = LifecycleEvent(**row)
            try:
                callback(event)
            except Exception as exc:
                failures += 1
                message = "".join(traceback.format_exception_only(exc)).strip()
                if failures < MAX_FAILURES:
                    logger.warning(
                        "listener.failed listener=%s event=%s attempt=%d: %s",
                        name,
                        event.id,
                        failures,
                        message,
                    )
                    conn.execute(_FAILED, (message[:2000], name))
                    break
                logger.error(
                    "listener.skipped listener=%s event=%s after %d failures: %s",
                    name,
                    event.id,
                    failures,
                    message,
                )
            conn.execute(_ADVANCE, (txid, event.id, name))
            failures = 0
            delivered += 1
        return delivered
    finally:
        conn.execute("select pg_advisory_unlock(hashtext(%s))", (lock,))


# -- counting the feed (the metrics plugin's totals) -----------------------------------


@dataclass(frozen=True)
class FeedCounts:
    """What ``count_events`` read: event-log rows past a position, counted by kind."""

    #: (queue, tenant, kind, count) for the kinds asked for (tenant ``""`` when none).
    counts: list[tuple[str, str, str, int]]
    #: The (txid, id) of the last row read: the position to count from next time; None
    #: when no row was read.
    last: tuple[int, int] | None
    #: Rows read, of every kind.
    rows: int


_COUNT = """
with batch as materialized (
  select txid, id, queue, coalesce(tenant, '') as tenant, kind
    from absurd_control_task_event
   where (txid, id) > (%(txid)s::text::xid8, %(id)s)
     and txid < (select absurd_control.feed_horizon())
   order by txid, id
   limit %(limit)s
), last as (
  select txid::text::bigint as txid, id from batch order by txid desc, id desc limit 1
)
select (select txid from last), (select id from last), (select count(*) from batch),
       g.queues, g.tenants, g.kinds, g.counts
  from (select array_agg(queue) as queues, array_agg(tenant) as tenants,
               array_agg(kind) as kinds, array_agg(n) as counts
          from (select queue, tenant, kind, count(*) as n from batch
                 where kind = any(%(kinds)s) group by 1, 2, 3) c) g
"""


def count_events(
    after: tuple[int, int], kinds: list[str], *, limit: int, using: str = "default"
) -> FeedCounts:
    """The lifecycle feed counted: the committed event-log rows past ``after`` (a
    ``(txid, id)`` position; ``(0, 0)`` for the start), at most ``limit`` of them, in the
    order listeners get them, and how many of each of ``kinds`` per queue and tenant.

    Published to plugins (the metrics plugin folds it into its totals). Only rows of
    transactions older than every one running in this database are read (as ``dispatch``
    reads them; ``absurd_control.feed_horizon()``), so a row committed late by a long
    transaction with a smaller id is counted once that transaction ends, never skipped.
    Cost: a range scan of the event log's (txid, id) index from ``after``, at most
    ``limit`` rows, and one read of ``pg_stat_activity``. Run it in the caller's
    transaction, next to the write that records the new position, for exactly-once
    counting.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            _COUNT, {"txid": after[0], "id": after[1], "limit": limit, "kinds": list(kinds)}
        )
        txid, last_id, rows, *columns = cursor.fetchone()
    counts = list(zip(*columns, strict=True)) if columns[0] else []
    return FeedCounts(counts, None if txid is None else (txid, last_id), rows)
