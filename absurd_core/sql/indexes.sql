-- Indexes of ours on the engine's per-queue tables and on the event log,
-- current truth. Idempotent; applied by a migration
-- (absurd_core/migrations/0012_current_sql.py). History: 0005, 0009 and 0010 in
-- history/. install.sql calls the per-queue installers for every queue.
--
-- Sized for the engine: the engine stores task_name and headers as text and
-- jsonb of any length; a btree index entry cannot exceed about 2,700 bytes (a
-- third of a page), so an index holding the whole value made spawn_task fail
-- with "index row size exceeds btree maximum" for a 3,200-character name or
-- tenant that plain Absurd accepts. Both indexes hold the first 256 characters
-- (at most 1,024 bytes in UTF-8): readers filter on the same left(..., 256)
-- expression, which the index answers, AND on the full value, which rejects the
-- rare rows that only share the prefix (absurd_core/index_keys.py).
--
-- The third index we put on engine tables, ac_live_ (r_, available_at and
-- run_id: fixed-size values), is built by install_runs_table (install.sql),
-- next to the wake-up trigger of the same table.

-- "Tasks of tenant T in state S, newest first": tenant-scoped dashboards, API
-- lists, counts, the tenant limiter's park_backlog. Task ids are UUIDv7, so
-- task_id order is creation order.
create or replace function absurd_control.install_tenant_index(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_index text := 'ac_tenant_pfx_' || left(md5(p_queue_name), 20);
begin
  -- Checked first: even "create index if not exists" locks the table.
  if v_tasks is null or to_regclass(format('absurd.%I', v_index)) is not null then
    return false;
  end if;
  execute format(
    'create index if not exists %I on %s (left(headers->>''tenant'', 256), state, task_id desc)',
    v_index, v_tasks
  );
  return true;
end;
$$;

-- "This task name, newest first, below this cursor": the runs list's task
-- filter. Without it, a name that a queue has few or none of makes that queue's
-- part of the page walk its whole primary key (90 ms at a million tasks when
-- one queue of three has the name; docs/dashboard-performance.md).
create or replace function absurd_control.install_task_name_index(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_index text := 'ac_name_pfx_' || left(md5(p_queue_name), 20);
begin
  if v_tasks is null or to_regclass(format('absurd.%I', v_index)) is not null then
    return false;
  end if;
  execute format(
    'create index if not exists %I on %s (left(task_name, 256), task_id desc)', v_index, v_tasks
  );
  return true;
end;
$$;

-- The overview's throughput sparklines: completed and failed tasks per minute
-- over the last hour, from the event log. Without an index that is a scan of
-- the whole log (117 ms at a million rows, every 2 s per open overview).
-- Partial: only 'completed' and 'failed' rows enter it, one of the three or
-- four rows a task logs in its life, so the log's hot insert path pays for it
-- on those rows only.
create index if not exists task_event_finished
  on public.absurd_control_task_event (created_at)
  where kind in ('completed', 'failed');

-- The listener feed's order (lifecycle.sql, "The event log as a listener feed").
create index if not exists task_event_txid
  on public.absurd_control_task_event (txid, id);
