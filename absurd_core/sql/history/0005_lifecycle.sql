-- Lifecycle integrity: the event log, dead letters, the terminal-state hook and
-- the dashboard change channel, all driven by triggers on the engine's
-- per-queue tables. Every absurd.* function that changes a task or an event
-- (whoever calls it: our worker, absurdctl, psql, claim_task sweeping an
-- expired lease) fires these triggers, so the trail is the same on every path.
-- docs/lifecycle.md has the audit: each state-changing function, the rows it
-- changes, and what follows here.
--
-- Trigger functions take the queue name as their first argument (TG_ARGV[0]),
-- given at installation, so they never parse table names.

-- A short "Name: message" from a failure_reason object ({"name", "message", ...}).
create or replace function absurd_control.reason_excerpt(p_reason jsonb)
  returns text
  language sql
  immutable
as $$
  select left(
    concat_ws(': ', nullif(p_reason->>'name', ''), nullif(p_reason->>'message', '')),
    500
  );
$$;

-- The dashboard change channel: the payload is the queue name. Coalesced per
-- connection: at most one notification per queue every 250 ms from one
-- session, so a burst of transitions is not a burst of notifications. The
-- throttle is leading-edge; listeners also refresh on a timer (see
-- docs/lifecycle.md). PostgreSQL also folds identical notifications within a
-- transaction.
create or replace function absurd_control.notify_changed(p_queue_name text)
  returns void
  language plpgsql
as $$
declare
  v_key text := 'absurd_control.changed_' || left(md5(p_queue_name), 16);
  v_now_ms bigint := floor(extract(epoch from clock_timestamp()) * 1000);
  v_last text := current_setting(v_key, true);
begin
  if v_last is null or v_last = '' or v_now_ms - v_last::bigint >= 250 then
    perform set_config(v_key, v_now_ms::text, false);
    perform pg_notify('absurd_control_changed', p_queue_name);
  end if;
end;
$$;

-- The terminal-state hook. Other apps register a function here, by its
-- schema-qualified name; it is called as fn(queue text, task_id uuid,
-- state text, tenant text) in the transaction that moves the task to
-- completed, failed or cancelled, by any path. A hook that raises is reported
-- with a WARNING and skipped: one broken hook must not stop every transition
-- of a queue (claim_task itself fails expired leases and cancels tasks).
create table if not exists absurd_control.terminal_hook (
  name text primary key,
  function_name text not null check (to_regproc(function_name) is not null),
  created_at timestamptz not null default now()
);

create or replace function absurd_control.run_terminal_hooks(
  p_queue_name text, p_task_id uuid, p_state text, p_tenant text
)
  returns void
  language plpgsql
as $$
declare
  v_hook record;
begin
  for v_hook in select name, function_name from absurd_control.terminal_hook order by name loop
    begin
      execute format('select %s($1, $2, $3, $4)', v_hook.function_name::regproc)
        using p_queue_name, p_task_id, p_state, p_tenant;
    exception when others then
      raise warning 'absurd_control terminal hook % failed for task % in queue %: %',
        v_hook.name, p_task_id, p_queue_name, sqlerrm;
    end;
  end loop;
end;
$$;

create or replace function absurd_control.log_event(
  p_queue_name text, p_tenant text, p_task_id uuid, p_run_id uuid, p_attempt integer,
  p_kind text, p_from text, p_to text, p_event_name text, p_reason text, p_detail jsonb
)
  returns void
  language sql
as $$
  insert into public.absurd_control_task_event
    (tenant, queue, task_id, run_id, attempt, kind, from_state, to_state, event_name,
     reason, detail, created_at)
  values
    (p_tenant, p_queue_name, p_task_id, p_run_id, p_attempt, p_kind, p_from, p_to,
     p_event_name, p_reason, p_detail, absurd.current_time());
$$;

-- t_<queue> AFTER INSERT: a task was spawned (spawn_task, or retry_task with
-- spawn_new, which spawns a copy).
create or replace function absurd_control.on_task_insert()
  returns trigger
  language plpgsql
as $$
begin
  perform absurd_control.log_event(
    tg_argv[0], new.headers->>'tenant', new.task_id, new.last_attempt_run, new.attempts,
    'spawned', null, new.state, null, null,
    jsonb_build_object('task_name', new.task_name)
  );
  perform absurd_control.notify_changed(tg_argv[0]);
  return null;
end;
$$;

-- t_<queue> AFTER UPDATE OF state: one row per task transition, with the run
-- that caused it. Every engine function but cancel_task updates the run before
-- the task, so the run row read here shows the new run state; cancel_task
-- updates the task first, and its log row needs nothing from the run.
create or replace function absurd_control.on_task_update()
  returns trigger
  language plpgsql
as $$
declare
  v_queue text := tg_argv[0];
  v_tenant text := new.headers->>'tenant';
  v_run record;
  v_failed record;
  v_kind text;
  v_reason text;
  v_detail jsonb;
  v_run_id uuid := new.last_attempt_run;
  v_attempt integer := new.attempts;
begin
  -- The run row is read only for the transitions that need its details
  -- (a wait, a failure): claims and completions, the hot path, skip it.
  if new.state in ('sleeping', 'failed', 'cancelled')
     or (new.state = 'pending' and new.last_attempt_run is distinct from old.last_attempt_run) then
    execute format(
      'select run_id, attempt, state, wake_event, available_at, failure_reason
         from absurd.%I where run_id = $1',
      'r_' || v_queue
    ) into v_run using new.last_attempt_run;
  end if;

  if new.state = 'running' then
    v_kind := 'claimed';
  elsif new.state in ('pending', 'sleeping')
        and old.state in ('running', 'sleeping')
        and new.last_attempt_run is distinct from old.last_attempt_run then
    -- fail_run scheduled the next attempt as a new run: log the failed one.
    execute format(
      'select run_id, attempt, failure_reason from absurd.%I where run_id = $1',
      'r_' || v_queue
    ) into v_failed using old.last_attempt_run;
    v_kind := 'retry_scheduled';
    v_run_id := v_failed.run_id;
    v_attempt := v_failed.attempt;
    v_reason := absurd_control.reason_excerpt(v_failed.failure_reason);
    v_detail := jsonb_build_object(
      'next_run_id', new.last_attempt_run, 'next_attempt', v_run.attempt,
      'available_at', v_run.available_at
    );
  elsif new.state = 'sleeping' then
    v_kind := 'sleeping';
    if v_run.wake_event is not null then
      v_reason := 'waiting for event ' || v_run.wake_event;
      v_detail := jsonb_build_object('event', v_run.wake_event);
      if v_run.available_at < 'infinity'::timestamptz then
        v_detail := v_detail || jsonb_build_object('timeout_at', v_run.available_at);
      end if;
    else
      v_reason := 'until ' || v_run.available_at::text;
      v_detail := jsonb_build_object('until', v_run.available_at);
    end if;
  elsif new.state = 'pending' and old.state in ('failed', 'cancelled') then
    v_kind := 'retried';
  elsif new.state = 'pending' then
    -- Only emit_event moves a sleeping task to pending (a timed-out wait goes
    -- straight to running through claim_task). emit_event has already cleared
    -- the run's wake_event, so the event comes from the logged wait.
    v_kind := 'woken';
    select 'event ' || (e.detail->>'event') into v_reason
      from public.absurd_control_task_event e
     where e.queue = v_queue and e.task_id = new.task_id and e.kind = 'sleeping'
     order by e.id desc
     limit 1;
  elsif new.state = 'completed' then
    v_kind := 'completed';
  elsif new.state = 'failed' then
    v_kind := 'failed';
    v_reason := absurd_control.reason_excerpt(v_run.failure_reason);
    v_run_id := v_run.run_id;
    v_attempt := v_run.attempt;
  elsif new.state = 'cancelled' then
    v_kind := 'cancelled';
    -- fail_run cancels a task past its max_duration: keep the failure as the reason.
    if v_run.run_id = old.last_attempt_run and v_run.state = 'failed' then
      v_reason := absurd_control.reason_excerpt(v_run.failure_reason);
    end if;
  end if;

  perform absurd_control.log_event(
    v_queue, v_tenant, new.task_id, v_run_id, v_attempt, v_kind, old.state, new.state,
    null, v_reason, v_detail
  );

  if new.state = 'failed' then
    -- One open dead letter per task; a task failing again after a retry gets a new one.
    insert into public.absurd_control_dead_letter
      (tenant, queue, task_id, task_name, error_name, error_message, attempts, failed_at, state)
    values
      (v_tenant, v_queue, new.task_id, new.task_name, v_run.failure_reason->>'name',
       left(v_run.failure_reason->>'message', 2000), new.attempts, absurd.current_time(), 'open')
    on conflict (queue, task_id) where state = 'open' do nothing;
  end if;

  if v_kind = 'retried' then
    -- Retried by any path (absurdctl, SQL, our API): the open dead letter is
    -- resolved. absurd_core.dead_letters resolves it first, with the operator.
    update public.absurd_control_dead_letter
       set state = 'retried', resolved_by = coalesce(resolved_by, 'absurd.retry_task'),
           resolved_at = absurd.current_time()
     where queue = v_queue and task_id = new.task_id and state = 'open';
  end if;

  if new.state in ('completed', 'failed', 'cancelled') then
    perform absurd_control.run_terminal_hooks(v_queue, new.task_id, new.state, v_tenant);
  end if;

  perform absurd_control.notify_changed(v_queue);
  return null;
end;
$$;

-- t_<queue> AFTER DELETE (absurd.cleanup_tasks): the task's history goes with
-- it. Its open dead letter is kept and marked, never deleted silently.
create or replace function absurd_control.on_task_delete()
  returns trigger
  language plpgsql
as $$
begin
  delete from public.absurd_control_task_event
   where queue = tg_argv[0] and task_id = old.task_id;
  update public.absurd_control_dead_letter
     set task_deleted_at = absurd.current_time()
   where queue = tg_argv[0] and task_id = old.task_id and state = 'open';
  return null;
end;
$$;

-- e_<queue> AFTER INSERT OR UPDATE: an event was emitted (emit_event, from
-- Python, absurdctl or SQL). First emit wins: an emit the engine ignores
-- changes no row and logs nothing. await_event pre-creates the row with a SQL
-- NULL payload as a "not emitted yet" sentinel; that is not an emit either.
create or replace function absurd_control.on_event_emitted()
  returns trigger
  language plpgsql
as $$
begin
  if new.payload is null or (tg_op = 'UPDATE' and old.payload is not null) then
    return null;
  end if;
  perform absurd_control.log_event(
    tg_argv[0], null, null, null, null, 'event_emitted', null, null, new.event_name, null,
    jsonb_build_object('payload_bytes', octet_length(coalesce(new.payload::text, '')))
  );
  return null;
end;
$$;

-- e_<queue> AFTER DELETE (absurd.cleanup_events): drop the matching log rows.
create or replace function absurd_control.on_event_delete()
  returns trigger
  language plpgsql
as $$
begin
  delete from public.absurd_control_task_event
   where queue = tg_argv[0] and kind = 'event_emitted' and event_name = old.event_name;
  return null;
end;
$$;

-- absurd.queues AFTER DELETE (absurd.drop_queue): a dropped queue leaves nothing of ours.
create or replace function absurd_control.on_queue_dropped()
  returns trigger
  language plpgsql
as $$
begin
  delete from public.absurd_control_task_event where queue = old.queue_name;
  delete from public.absurd_control_dead_letter where queue = old.queue_name;
  return null;
end;
$$;

drop trigger if exists absurd_control_queue_dropped on absurd.queues;
create trigger absurd_control_queue_dropped
  after delete on absurd.queues
  for each row execute function absurd_control.on_queue_dropped();

-- Create a trigger unless one of that name exists (CREATE TRIGGER locks the
-- table). p_definition is complete (table and arguments already formatted in
-- by the caller), so nothing in a queue name is ever interpreted twice.
create or replace function absurd_control.ensure_trigger(
  p_table regclass, p_name text, p_definition text
)
  returns boolean
  language plpgsql
as $$
begin
  if p_table is null or absurd_control.has_trigger(p_table, p_name) then
    return false;
  end if;
  execute format('create trigger %I %s', p_name, p_definition);
  return true;
end;
$$;

-- The index behind "tasks of tenant T in state S, newest first" (tenant-scoped
-- dashboards and API lists). Task ids are UUIDv7, so task_id order is creation
-- order.
create or replace function absurd_control.install_tenant_index(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_index text := 'ac_tenant_' || left(md5(p_queue_name), 20);
begin
  -- Checked first: even "create index if not exists" locks the table.
  if v_tasks is null or to_regclass(format('absurd.%I', v_index)) is not null then
    return false;
  end if;
  execute format(
    'create index if not exists %I on %s ((headers->>''tenant''), state, task_id desc)',
    v_index, v_tasks
  );
  return true;
end;
$$;

create or replace function absurd_control.install_tasks_table(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_changed boolean := absurd_control.install_tenant_index(p_queue_name);
begin
  v_changed := absurd_control.ensure_trigger(v_tasks, 'absurd_control_task_insert', format(
    'after insert on %s for each row execute function absurd_control.on_task_insert(%L)',
    v_tasks, p_queue_name)) or v_changed;
  -- A new run without a state change (fail_run retrying a sleeping run into
  -- sleeping) is a transition too.
  v_changed := absurd_control.ensure_trigger(v_tasks, 'absurd_control_task_update', format(
    'after update of state on %s for each row when (old.state is distinct from new.state'
    ' or old.last_attempt_run is distinct from new.last_attempt_run)'
    ' execute function absurd_control.on_task_update(%L)', v_tasks, p_queue_name)) or v_changed;
  v_changed := absurd_control.ensure_trigger(v_tasks, 'absurd_control_task_delete', format(
    'after delete on %s for each row execute function absurd_control.on_task_delete(%L)',
    v_tasks, p_queue_name)) or v_changed;
  return v_changed;
end;
$$;

create or replace function absurd_control.install_events_table(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_events regclass := absurd_control.queue_table('e_', p_queue_name);
  v_changed boolean := false;
begin
  v_changed := absurd_control.ensure_trigger(v_events, 'absurd_control_event_emitted', format(
    'after insert or update on %s for each row'
    ' execute function absurd_control.on_event_emitted(%L)', v_events, p_queue_name)) or v_changed;
  v_changed := absurd_control.ensure_trigger(v_events, 'absurd_control_event_delete', format(
    'after delete on %s for each row execute function absurd_control.on_event_delete(%L)',
    v_events, p_queue_name)) or v_changed;
  return v_changed;
end;
$$;

-- Every table of one queue (replaces the runs-only version of 0002).
create or replace function absurd_control.install_queue(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_runs boolean := absurd_control.install_runs_table(p_queue_name);
  v_tasks boolean := absurd_control.install_tasks_table(p_queue_name);
  v_events boolean := absurd_control.install_events_table(p_queue_name);
begin
  return v_runs or v_tasks or v_events;
end;
$$;

-- The event trigger (0002's on_create_table) now equips t_, r_ and e_ tables as
-- they are created.
create or replace function absurd_control.install_table(p_prefix text, p_queue_name text)
  returns boolean
  language plpgsql
as $$
begin
  case p_prefix
    when 'r_' then return absurd_control.install_runs_table(p_queue_name);
    when 't_' then return absurd_control.install_tasks_table(p_queue_name);
    when 'e_' then return absurd_control.install_events_table(p_queue_name);
    else return false;
  end case;
end;
$$;

select absurd_control.install_all_queues();
