-- Child workflows, current truth: who spawned whom, the wake-up of a parent
-- waiting for its children, and the cancel cascade. Idempotent; applied by a
-- migration (absurd_core/migrations/0015_children.py). docs/workflows.md
-- describes the feature; absurd_core/children.py is the Python side.
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
-- One row per parent wait (ctx.await_children): which children it waits for,
-- how many must end (need: all = every child, first = 1, any_n = n), how many have
-- ended, and the system event that wakes the parent (event_name, bound to the
-- parent: absurd_core/event_names.py). When the condition is met, or a child
-- fails or is cancelled, the event is emitted once on the parent's queue
-- (fired_at): one event per wait, not one notification per child.
create table if not exists absurd_control.child_wait (
  parent_queue text not null,
  parent_task_id uuid not null,
  event_name text not null,
  mode text not null check (mode in ('all', 'first', 'any_n')),
  need integer not null check (need >= 1),
  children uuid[] not null,
  -- How many of them have ended. A child ends at most once while the wait is open: a
  -- failed or cancelled one fires it at once, and a completed task is never retried.
  done integer not null default 0,
  fired_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (parent_task_id, event_name)
);

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

-- Register (or re-register, on a replay) a parent's wait, and fire it at once
-- when the children it names have already met the condition. p_children is a
-- JSON array of {"queue": ..., "task_id": ...}. The children's task rows are
-- locked FOR SHARE while their states are read, so a child ending concurrently
-- either ended before (and is counted here) or ends after this commits (and
-- its trigger finds this row): no ending is missed. Returns whether the wait
-- has fired.
create or replace function absurd_control.register_child_wait(
  p_parent_queue text, p_parent_task_id uuid, p_event_name text, p_mode text, p_need integer,
  p_children jsonb
)
  returns boolean
  language plpgsql
as $$
declare
  v_ids uuid[];
  v_queue text;
  v_table regclass;
  v_done integer := 0;
  v_last uuid;
  v_row record;
  v_failed_id uuid;
  v_failed_state text;
  v_wait absurd_control.child_wait;
begin
  select array_agg((c->>'task_id')::uuid) into v_ids
    from jsonb_array_elements(p_children) c;
  insert into absurd_control.child_wait
    (parent_queue, parent_task_id, event_name, mode, need, children)
  values (p_parent_queue, p_parent_task_id, p_event_name, p_mode, p_need, coalesce(v_ids, '{}'))
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
  update absurd_control.child_wait set done = v_done
   where parent_task_id = p_parent_task_id and event_name = p_event_name;
  if v_done >= v_wait.need or v_failed_id is not null then
    update absurd_control.child_wait set fired_at = absurd.current_time()
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

-- t_<queue> AFTER UPDATE OF state, into completed, failed or cancelled:
-- 1. a child ended: record it in its parent's waits that name it; fire a wait
--    whose condition is now met, or at once when the child failed or was
--    cancelled (the parent decides what a failure means);
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
begin
  -- 3 first: the task's own waits are over (so children cancelled by 2 fire nothing).
  delete from absurd_control.child_wait where parent_task_id = new.task_id;

  -- 1. A child ended.
  if v_parent is not null then
    for v_wait in
      update absurd_control.child_wait w
         set done = w.done + 1,
             fired_at = case
               when w.done + 1 >= w.need or new.state <> 'completed'
               then absurd.current_time() end
       where w.parent_task_id = v_parent
         and w.fired_at is null
         and new.task_id = any(w.children)
      returning w.parent_queue, w.event_name, w.fired_at
    loop
      if v_wait.fired_at is not null then
        perform absurd_control.fire_child_wait(
          v_wait.parent_queue, v_wait.event_name, new.task_id, new.state
        );
      end if;
    end loop;
  end if;

  -- 2. A parent was cancelled: cascade, queue by queue, through the parent index.
  if new.state = 'cancelled' then
    for v_queue in select queue_name from absurd.queues order by queue_name loop
      if absurd_control.queue_table('t_', v_queue) is null then
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
        perform absurd.cancel_task(v_queue, v_child);
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
