-- Partitioned queues: what their partitions are, and retention by dropping old ones,
-- current truth. Applied by absurd_core/migrations/0021_partitioned_queues.py.
--
-- Upstream Absurd's storage mode 'partitioned' (absurd.create_queue(name,
-- 'partitioned')) makes t_, r_, c_ and w_ range-partitioned parents keyed by the
-- UUIDv7 ids, one partition per ISO week (absurd.ensure_partitions, tag YWW) plus
-- a default partition. Our triggers and indexes need nothing of this file: they
-- are created on the parents (install.sql equips plain and partitioned tables
-- alike), and PostgreSQL clones a parent's row triggers and indexes onto every
-- partition, including those made later.
--
-- Retention: absurd.cleanup_tasks deletes finished tasks past cleanup_ttl, row by
-- row, on every storage mode. On a partitioned queue the weeks it has emptied can
-- then go as a whole: absurd.list_detach_candidates names the partitions that are
-- older than detach_min_age and empty (only while detach_mode is 'empty'), and
-- upstream leaves running the DETACH to the caller (absurdctl builds it; with
-- pg_cron, absurd.schedule_detach_jobs schedules it). Without pg_cron, these
-- functions are that caller.

-- The partitions of a queue's parent tables, one row each: the parent's prefix
-- ('t', 'r', 'c', 'w'), the partition, its week (null for the default
-- partition), its row estimate (pg_class.reltuples: -1 until analyzed, shown
-- as unknown) and its size with indexes and TOAST. Nothing for an
-- unpartitioned queue or a queue that does not exist.
create or replace function absurd_control.queue_partitions(p_queue_name text)
  returns table (
    prefix text,
    partition_table text,
    is_default boolean,
    range_from timestamptz,
    range_to timestamptz,
    row_estimate bigint,
    total_bytes bigint
  )
  language sql
  stable
as $$
  with parts as (
    select p.prefix,
           child.oid as child_oid,
           child.relname::text as partition_table,
           pg_get_expr(child.relpartbound, child.oid) as bound,
           child.reltuples
      from unnest(array['t', 'r', 'c', 'w']) as p(prefix)
      join pg_class parent
        on parent.relname = (p.prefix || '_' || p_queue_name)::name
       and parent.relname::text = p.prefix || '_' || p_queue_name
       and parent.relkind = 'p'
      join pg_namespace n on n.oid = parent.relnamespace and n.nspname = 'absurd'
      join pg_inherits inh on inh.inhparent = parent.oid
      join pg_class child on child.oid = inh.inhrelid
     where exists (
       select 1 from absurd.queues q
        where q.queue_name = p_queue_name and q.storage_mode = 'partitioned'
     )
  )
  select parts.prefix,
         parts.partition_table,
         parts.bound = 'DEFAULT',
         absurd.uuidv7_timestamp(
           (regexp_match(parts.bound, 'FROM \(''([^'']+)''(::uuid)?\)'))[1]::uuid),
         absurd.uuidv7_timestamp(
           (regexp_match(parts.bound, 'TO \(''([^'']+)''(::uuid)?\)'))[1]::uuid),
         parts.reltuples::bigint,
         pg_total_relation_size(parts.child_oid)
    from parts
   order by parts.bound = 'DEFAULT', 4, parts.prefix;
$$;

-- Detach and drop the partitions of p_queue_name that upstream's policy says
-- may go (absurd.list_detach_candidates: older than detach_min_age and empty,
-- with detach_mode 'empty'), after making sure the weeks ahead exist
-- (absurd.ensure_partitions). Returns the partitions dropped.
--
-- DETACH ... CONCURRENTLY cannot run inside a transaction block, so this
-- detaches plainly, which takes an ACCESS EXCLUSIVE lock on the parent for a
-- moment; lock_timeout bounds the wait behind a busy queue (SQLSTATE 55P03,
-- nothing changed: run it again). The partitions are empty, so there is
-- nothing to move and the lock is short. An empty partition that gets a row
-- between the check and the detach is kept: it is checked again under the lock.
create or replace function absurd_control.drop_old_partitions(
  p_queue_name text,
  p_lock_timeout interval default interval '2 seconds'
)
  returns setof text
  language plpgsql
as $$
declare
  v_candidate record;
  v_has_rows boolean;
begin
  if not exists (
    select 1 from absurd.queues q
     where q.queue_name = p_queue_name and q.storage_mode = 'partitioned'
  ) then
    return;
  end if;
  perform set_config('lock_timeout', (extract(epoch from p_lock_timeout) * 1000)::bigint::text,
                     true);
  perform absurd.ensure_partitions(p_queue_name);
  for v_candidate in
    select c.parent_table, c.partition_table
      from absurd.list_detach_candidates(p_queue_name) c
     order by c.partition_table
  loop
    execute format('lock table absurd.%I in access exclusive mode', v_candidate.parent_table);
    execute format('select exists (select 1 from absurd.%I limit 1)', v_candidate.partition_table)
      into v_has_rows;
    continue when v_has_rows;
    execute format('alter table absurd.%I detach partition absurd.%I',
                   v_candidate.parent_table, v_candidate.partition_table);
    if absurd.drop_detached_partition(v_candidate.partition_table) then
      return next v_candidate.partition_table;
    end if;
  end loop;
end;
$$;
