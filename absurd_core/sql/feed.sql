-- == How far the lifecycle feed may read ===================================
--
-- Lifecycle listeners and the metrics counters read the event log in
-- (txid, id) order and keep a cursor (absurd_core/listeners.py; the reasoning
-- is in lifecycle.sql, "The event log as a listener feed"). A row may be read
-- only once no transaction that could still commit a smaller (txid, id) is
-- running; the feed used the snapshot's xmin for that bound.
--
-- That xmin is the whole server's: a transaction that has written anything in
-- ANOTHER database of the same server (a test suite's second database, another
-- application sharing the cluster, a long migration elsewhere) held back every
-- listener and counter here until it ended, though it can never write a row
-- of our event log. This function is the same bound without them:
--
--   * every transaction id below the snapshot's xmax that is not in its xip
--     list had finished when the snapshot was taken, so its rows are final;
--   * of the transactions in xip (running at the snapshot), only those known
--     to belong to another database are passed over: the current transaction
--     of a backend whose database is not ours (pg_stat_activity's backend_xid
--     and datid, shown to every role), or a prepared transaction of another
--     database (pg_prepared_xacts).
--     An id is never reused while it runs, so "known to be another
--     database's" cannot be wrong; a transaction that ended between the
--     snapshot and the lookup is simply not found and still bounds (a delay
--     of one pass, never a skipped row);
--   * our own transaction's id bounds too: it is not in our own xip, and rows
--     it wrote are visible to us before they are final.
--
-- Stable, so it sees the calling statement's snapshot: call it as a scalar
-- subquery, `txid < (select absurd_control.feed_horizon())`, so it runs once
-- per statement. PL/pgSQL rather than SQL because a SQL function's body is
-- planned again at every call (0.5 ms; this costs 0.04 ms more than reading
-- pg_snapshot_xmin alone). Cost: one pass over the backends' status array.
create or replace function absurd_control.feed_horizon()
  returns xid8
  language plpgsql
  stable
as $$
declare
  snap pg_snapshot := pg_current_snapshot();
  running_here xid8;
begin
  select min(x) into running_here
    from pg_snapshot_xip(snap) as x
   where (x::text::numeric % 4294967296)::bigint not in (
           -- Transactions of another database of this server (32-bit ids).
           select a.backend_xid::text::bigint
             from pg_stat_get_activity(null) as a
            where a.backend_xid is not null
              and a.datid is not null
              and a.datid <> (select oid from pg_database where datname = current_database())
           union all
           select p.transaction::text::bigint
             from pg_prepared_xacts as p
            where p.database <> current_database());
  -- least() skips nulls: no running transaction here, no transaction id of our own.
  return least(pg_snapshot_xmax(snap), running_here, pg_current_xact_id_if_assigned());
end;
$$;
