-- Child workflows, current truth: who spawned whom, the wake-up of a parent
-- waiting for its children, and the cancel cascade. Idempotent; applied by a
-- migration (absurd_core/migrations/0015_children.py, then 0017_children_locks.py). docs/workflows.md
-- describes the feature; absurd_core/children.py is the Python side. The lock
-- order (see "Lock order" below) is 0017_children_locks.py's.
--
-- The relationship lives in the child's headers, stamped by the platform when
-- a task spawns a child (ControlTaskContext.spawn_child), never taken from a
-- client (the API refuses headers under "absurd_control."):
--
--   absurd_control.parent           the parent's task id
--   absurd_control.parent_queue     the parent's queue
--   absurd_control.root             the root task id (the parent's root, or the parent)
--   absurd_control.depth            1 for a child, 2 for a grandchild, ...
--   absurd_control.on_parent_cancel "cancel" (default) or "abandon"
--
-- Everything below is driven by a trigger on every queue's task table, so it
-- holds whoever ends a child or cancels a parent: our worker, absurdctl, a
-- psql session calling absurd.complete_run or absurd.cancel_task, another SDK.
-- The equipment is put on every queue, existing and new, through the core's
-- installer registry (install.sql, "The installer registry").

-- == Header values ========================================================

-- A relationship header as a uuid, or null when absent or not a uuid (raw
-- spawns may carry anything in headers; nothing here may fail because of it).
create or replace function absurd_control.header_uuid(p_headers jsonb, p_key text)
  returns uuid
  language plpgsql
  immutable
as $$
declare
  v_text text := p_headers->>p_key;
begin
  if v_text is null or v_text !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return null;
  end if;
  return v_text::uuid;
end;
$$;

-- == Parent waits =========================================================
--
-- One row per parent wait (ctx.await_children), its head: which children it
-- waits for, how many must end (need: all = every child, first = 1, any_n = n),
-- and the system event that wakes the parent (event_name, bound to the parent:
-- absurd_core/event_names.py). When the condition is met, or a child fails or
-- is cancelled, the event is emitted once on the parent's queue (fired_at): one
-- event per wait, not one notification per child.
create table if not exists absurd_control.child_wait (
  parent_queue text not null,
  parent_task_id uuid not null,
  event_name text not null,
  mode text not null check (mode in ('all', 'first', 'any_n')),
  need integer not null check (need >= 1),
  children uuid[] not null,
  -- How many of them had ended when the wait fired (the count lives in the shards).
  done integer not null default 0,
  fired_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (parent_task_id, event_name)
);

-- How many shards the wait's count is spread over (child_shard).
alter table absurd_control.child_wait add column if not exists shards integer not null default 1
  check (shards >= 1);

-- The count of ended children, spread over the wait's shards: a child's end
-- adds one to its own shard only (child_shard), so children ending at once on
-- several worker threads do not queue behind one row lock held to commit. A
-- child ends at most once while the wait is open: a failed or cancelled one
-- fires it at once, and a completed task is never retried.
--
-- Exactly one transaction fires the wait, and none misses it: a child whose end
-- could meet the condition (its shard is now full in mode all; any completed
-- child in modes first and any_n; a failed or cancelled child) takes the head
-- row FOR UPDATE, and only then, in a new statement (READ COMMITTED: a new
-- snapshot, after the lock was granted), sums the shards. Every such
-- transaction holds the head until it commits, so the last of them to get the
-- head sees every other's count committed, and the head's fired_at says
-- whether one of them fired already.
create table if not exists absurd_control.child_wait_shard (
  parent_task_id uuid not null,
  event_name text not null,
  shard integer not null,
  size integer not null check (size >= 1),
  done integer not null default 0,
  primary key (parent_task_id, event_name, shard),
  foreign key (parent_task_id, event_name)
    references absurd_control.child_wait (parent_task_id, event_name) on delete cascade
);

-- A child's shard among p_shards.
create or replace function absurd_control.child_shard(p_child uuid, p_shards integer)
  returns integer
  language sql
  immutable
as $$
  select ((hashtext(p_child::text)::bigint + 2147483648) % p_shards)::integer;
$$;

-- Fire a wait: emit its event on the parent's queue. The payload names the
-- child that completed the condition; the parent reads every outcome itself.
create or replace function absurd_control.fire_child_wait(
  p_parent_queue text, p_event_name text, p_child uuid, p_state text
)
  returns void
  language sql
as $$
  select absurd.emit_event(
    p_parent_queue, p_event_name, jsonb_build_object('child', p_child, 'state', p_state)
  );
$$;

-- Waits recorded before the count was sharded count in one shard.
insert into absurd_control.child_wait_shard (parent_task_id, event_name, shard, size, done)
select w.parent_task_id, w.event_name, 0, greatest(cardinality(w.children), 1), w.done
  from absurd_control.child_wait w
 where w.shards = 1
   and not exists (
     select 1 from absurd_control.child_wait_shard s
      where s.parent_task_id = w.parent_task_id and s.event_name = w.event_name)
on conflict do nothing;

-- Register (or re-register, on a replay) a parent's wait, and fire it at once
-- when the children it names have already met the condition. p_children is a
-- JSON array of {"queue": ..., "task_id": ...}. The children's task rows are
-- locked FOR SHARE while their states are read, so a child ending concurrently
-- either ended before (and is counted here) or ends after this commits (and
-- its trigger finds this row): no ending is missed. The count is spread over
-- up to 8 shards (child_wait_shard). Returns whether the wait has fired.
create or replace function absurd_control.register_child_wait(
  p_parent_queue text, p_parent_task_id uuid, p_event_name text, p_mode text, p_need integer,
  p_children jsonb
)
  returns boolean
  language plpgsql
as $$
declare
  v_ids uuid[];
  v_shards integer;
  v_queue text;
  v_table regclass;
  v_done integer := 0;
  v_ended uuid[] := '{}';
  v_last uuid;
  v_row record;
  v_failed_id uuid;
  v_failed_state text;
  v_wait absurd_control.child_wait;
begin
  select array_agg((c->>'task_id')::uuid) into v_ids
    from jsonb_array_elements(p_children) c;
  v_ids := coalesce(v_ids, '{}');
  v_shards := greatest(least(8, cardinality(v_ids)), 1);
  insert into absurd_control.child_wait
    (parent_queue, parent_task_id, event_name, mode, need, children, shards)
  values (p_parent_queue, p_parent_task_id, p_event_name, p_mode, p_need, v_ids, v_shards)
  on conflict (parent_task_id, event_name) do nothing;

  for v_queue in select distinct c->>'queue' from jsonb_array_elements(p_children) c loop
    v_table := absurd_control.queue_table('t_', v_queue);
    if v_table is null then
      continue;
    end if;
    for v_row in execute format(
      'select task_id, state from %s where task_id = any($1) order by task_id for share', v_table
    ) using v_ids loop
      if v_row.state in ('completed', 'failed', 'cancelled') then
        v_done := v_done + 1;
        v_ended := v_ended || v_row.task_id;
        v_last := v_row.task_id;
        if v_row.state <> 'completed' and v_failed_id is null then
          v_failed_id := v_row.task_id;
          v_failed_state := v_row.state;
        end if;
      end if;
    end loop;
  end loop;

  select * into v_wait from absurd_control.child_wait
   where parent_task_id = p_parent_task_id and event_name = p_event_name for update;
  if v_wait.fired_at is not null then
    return true;
  end if;
  -- The shards, counted afresh (a replay recounts what the triggers counted).
  insert into absurd_control.child_wait_shard (parent_task_id, event_name, shard, size, done)
  select p_parent_task_id, p_event_name, k.shard, k.size, k.done
    from (
      select absurd_control.child_shard(c, v_wait.shards) as shard, count(*)::integer as size,
             (count(*) filter (where c = any(v_ended)))::integer as done
        from unnest(v_wait.children) c
       group by 1
    ) k
  on conflict (parent_task_id, event_name, shard) do update set done = excluded.done;
  if v_done >= v_wait.need or v_failed_id is not null then
    update absurd_control.child_wait set fired_at = absurd.current_time(), done = v_done
     where parent_task_id = p_parent_task_id and event_name = p_event_name;
    perform absurd_control.fire_child_wait(
      p_parent_queue, p_event_name,
      coalesce(v_failed_id, v_last),
      coalesce(v_failed_state, 'completed')
    );
    return true;
  end if;
  return false;
end;
$$;

-- The outcome of each child (p_children as in register_child_wait): state,
-- result when completed, failure_reason of the last run when failed.
create or replace function absurd_control.child_outcomes(p_children jsonb)
  returns table (queue text, task_id uuid, state text, result jsonb, failure jsonb)
  language plpgsql
  stable
as $$
declare
  v_queue text;
  v_ids uuid[];
begin
  for v_queue, v_ids in
    select c->>'queue', array_agg((c->>'task_id')::uuid)
      from jsonb_array_elements(p_children) c group by 1
  loop
    if absurd_control.queue_table('t_', v_queue) is null
       or absurd_control.queue_table('r_', v_queue) is null then
      continue;
    end if;
    return query execute format(
      'select $2::text, t.task_id, t.state,
              case when t.state = ''completed'' then t.completed_payload end,
              case when t.state in (''failed'', ''cancelled'') then r.failure_reason end
         from absurd.%I t left join absurd.%I r on r.run_id = t.last_attempt_run
        where t.task_id = any($1)',
      't_' || v_queue, 'r_' || v_queue
    ) using v_ids, v_queue;
  end loop;
end;
$$;

-- == The trigger ==========================================================
--
-- Lock order. A child's ender (complete_run, fail_run, cancel_task on the child)
-- holds the child's run and task rows before this trigger runs; a parent's
-- canceller (cancel_task on the parent) holds the parent's runs and task row
-- before it runs, and its cascade needs the children. Both sides follow one
-- order, parent before child, and neither waits for the other in reverse:
--
-- * the ender, before it touches anything of the parent (its waits, the
--   wake-up event), announces itself with a shared transaction advisory lock on
--   the child (child_ending_key), then takes the parent's unfinished runs FOR
--   KEY SHARE, the rows cancel_task locks first. So an ender that holds a wait
--   row also holds the parent's runs: a canceller cannot be under way, and one
--   that starts waits for the ender (which waits for nothing of the parent's).
--   KEY SHARE does not conflict with another ender's lock of the same runs nor
--   with emit_event's update of them, so enders do not queue behind each other
--   here, and one of them can wake the parent.
-- * the canceller never waits for a child's rows held by an ender: it locks
--   each child NOWAIT; when the child is held, and its holder has announced that
--   it ends the child, the canceller leaves the child alone (that holder waits
--   for this parent, then ends the child: it ends as it ended, as for a child
--   that ended before the cancel). A holder that did not announce itself (a
--   claim, a heartbeat, a checkpoint, a retry) does not wait for the parent:
--   the canceller tries again shortly, and after about five seconds waits for
--   it in the ordinary way.

-- The advisory-lock key announcing that a transaction ends this child.
create or replace function absurd_control.child_ending_key(p_child uuid)
  returns bigint
  language sql
  immutable
as $$
  select ('x' || left(md5('absurd_control.child_ending:' || p_child::text), 16))::bit(64)::bigint;
$$;

-- Cancel one child of a cancelled parent without waiting for a transaction that
-- is ending that child (see "Lock order"). Returns whether it was cancelled here
-- (false: it had ended, or its ender will end it).
create or replace function absurd_control.cancel_child(p_queue text, p_child uuid)
  returns boolean
  language plpgsql
as $$
declare
  v_tries integer := 0;
  v_key bigint := absurd_control.child_ending_key(p_child);
begin
  loop
    begin
      -- cancel_task's own order: the active runs, then the task row.
      execute format(
        'select 1 from absurd.%I where task_id = $1
            and state not in (''completed'', ''failed'', ''cancelled'')
          order by run_id for update nowait',
        'r_' || p_queue
      ) using p_child;
      execute format('select 1 from absurd.%I where task_id = $1 for update nowait', 't_' || p_queue)
        using p_child;
      perform absurd.cancel_task(p_queue, p_child);
      return true;
    exception when lock_not_available then
      null;
    end;
    -- Held. By a transaction ending the child? Then it waits for this parent: leave it.
    if not pg_try_advisory_lock(v_key) then
      return false;
    end if;
    perform pg_advisory_unlock(v_key);
    v_tries := v_tries + 1;
    if v_tries >= 2500 then
      perform absurd.cancel_task(p_queue, p_child);  -- a long holder: wait for it
      return true;
    end if;
    perform pg_sleep(0.002);
  end loop;
end;
$$;

-- t_<queue> AFTER UPDATE OF state, into completed, failed or cancelled:
-- 1. a child ended: count it in its shard of its parent's waits that name it;
--    fire a wait whose condition is now met (the shards' sum, read under the
--    head's lock), or at once when the child failed or was cancelled (the
--    parent decides what a failure means);
-- 2. a parent was cancelled: cancel its unfinished children that were spawned
--    with on_parent_cancel "cancel" (absurd.cancel_task, so their own children
--    follow through this same trigger);
-- 3. a task ended: its own waits are over (a retried parent registers again).
create or replace function absurd_control.on_task_ended_children()
  returns trigger
  language plpgsql
as $$
declare
  v_parent uuid := absurd_control.header_uuid(new.headers, 'absurd_control.parent');
  v_wait record;
  v_queue text;
  v_child uuid;
  v_runs regclass;
  v_full boolean;
  v_done integer;
begin
  -- 3 first: the task's own waits are over (so children cancelled by 2 fire nothing).
  -- No ender of a child holds them: it would hold this task's runs too (lock order).
  delete from absurd_control.child_wait where parent_task_id = new.task_id;

  -- 1. A child ended.
  if v_parent is not null then
    -- Announce the ending before waiting for anything of the parent (lock order).
    perform pg_advisory_xact_lock_shared(absurd_control.child_ending_key(new.task_id));
    for v_queue in
      select distinct w.parent_queue from absurd_control.child_wait w
       where w.parent_task_id = v_parent
         and w.fired_at is null
         and new.task_id = any(w.children)
    loop
      v_runs := absurd_control.queue_table('r_', v_queue);
      if v_runs is not null then
        execute format(
          'select 1 from %s where task_id = $1
              and state not in (''completed'', ''failed'', ''cancelled'')
            order by run_id for key share',
          v_runs
        ) using v_parent;
      end if;
    end loop;
    for v_wait in
      select w.parent_queue, w.event_name, w.mode, w.need, w.shards
        from absurd_control.child_wait w
       where w.parent_task_id = v_parent
         and w.fired_at is null
         and new.task_id = any(w.children)
    loop
      -- Count the end in the child's own shard.
      update absurd_control.child_wait_shard s
         set done = s.done + 1
       where s.parent_task_id = v_parent
         and s.event_name = v_wait.event_name
         and s.shard = absurd_control.child_shard(new.task_id, v_wait.shards)
      returning s.done >= s.size into v_full;
      if not found then
        continue;  -- the wait was dropped meanwhile
      end if;
      if new.state = 'completed' and v_wait.mode = 'all' and not v_full then
        continue;  -- its shard is not full: the wait cannot be complete
      end if;
      -- Could meet the condition: the head serialises the final check (see the shards).
      perform 1 from absurd_control.child_wait w
        where w.parent_task_id = v_parent and w.event_name = v_wait.event_name
          and w.fired_at is null
        for update;
      if not found then
        continue;  -- fired (or dropped) by a transaction that committed first
      end if;
      -- A new statement, so a new snapshot: every count committed before the lock.
      select coalesce(sum(s.done), 0)::integer into v_done
        from absurd_control.child_wait_shard s
       where s.parent_task_id = v_parent and s.event_name = v_wait.event_name;
      if new.state = 'completed' and v_done < v_wait.need then
        continue;
      end if;
      update absurd_control.child_wait w
         set fired_at = absurd.current_time(), done = v_done
       where w.parent_task_id = v_parent and w.event_name = v_wait.event_name;
      perform absurd_control.fire_child_wait(
        v_wait.parent_queue, v_wait.event_name, new.task_id, new.state
      );
    end loop;
  end if;

  -- 2. A parent was cancelled: cascade, queue by queue, through the parent index.
  if new.state = 'cancelled' then
    for v_queue in select queue_name from absurd.queues order by queue_name loop
      if absurd_control.queue_table('t_', v_queue) is null
         or absurd_control.queue_table('r_', v_queue) is null then
        continue;
      end if;
      for v_child in execute format(
        'select task_id from absurd.%I
          where headers ? ''absurd_control.parent''
            and left(headers->>''absurd_control.parent'', 256) = $1
            and headers->>''absurd_control.parent'' = $1
            and state not in (''completed'', ''failed'', ''cancelled'')
            and coalesce(headers->>''absurd_control.on_parent_cancel'', ''cancel'') = ''cancel''
          order by task_id',
        't_' || v_queue
      ) using new.task_id::text loop
        perform absurd_control.cancel_child(v_queue, v_child);
      end loop;
    end loop;
  end if;

  return null;
end;
$$;

-- == Per-queue equipment ==================================================

-- "Children of P" and "descendants of R": partial indexes on the task table,
-- holding only tasks that have a parent (nothing for the rest). Keys are
-- left(..., 256) like the engine-sized indexes (indexes.sql), so a raw spawn
-- with an oversized header value cannot fail; readers filter on the prefix and
-- on the full value (absurd_core/index_keys.py).
--
-- Registered in absurd_control.queue_installer, so install_table calls it for
-- every queue table it equips (event trigger, runworker, create_queue).
create or replace function absurd_control.install_children(p_prefix text, p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass;
  v_parent_index text := 'ac_parent_' || left(md5(p_queue_name), 20);
  v_root_index text := 'ac_root_' || left(md5(p_queue_name), 20);
  v_changed boolean := false;
begin
  if p_prefix <> 't_' then
    return false;
  end if;
  v_tasks := absurd_control.queue_table('t_', p_queue_name);
  if v_tasks is null then
    return false;
  end if;
  if to_regclass(format('absurd.%I', v_parent_index)) is null then
    execute format(
      'create index if not exists %I on %s
         (left(headers->>''absurd_control.parent'', 256), task_id desc)
         where headers ? ''absurd_control.parent''',
      v_parent_index, v_tasks
    );
    v_changed := true;
  end if;
  if to_regclass(format('absurd.%I', v_root_index)) is null then
    execute format(
      'create index if not exists %I on %s
         (left(headers->>''absurd_control.root'', 256), task_id desc)
         where headers ? ''absurd_control.root''',
      v_root_index, v_tasks
    );
    v_changed := true;
  end if;
  v_changed := absurd_control.ensure_trigger(v_tasks, 'absurd_control_children', format(
    'after update of state on %s for each row'
    ' when (old.state is distinct from new.state'
    ' and new.state in (''completed'', ''failed'', ''cancelled''))'
    ' execute function absurd_control.on_task_ended_children()', v_tasks)) or v_changed;
  return v_changed;
end;
$$;

insert into absurd_control.queue_installer (name, function_name)
values ('absurd_core.children', 'absurd_control.install_children')
on conflict (name) do nothing;

select absurd_control.install_all_queues();
