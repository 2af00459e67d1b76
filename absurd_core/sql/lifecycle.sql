-- Lifecycle integrity, current truth: the event log, dead letters and the
-- terminal-state hook, all driven by triggers on the engine's per-queue tables.
-- Every absurd.* function that changes a task or an event (whoever calls it:
-- our worker, absurdctl, psql, claim_task sweeping an expired lease) fires
-- these triggers, so the trail is the same on every path. docs/lifecycle.md has
-- the audit: each state-changing function, the rows it changes, and what
-- follows here. install.sql puts the triggers on every queue.
--
-- Each function is defined once, here. The migrations that brought them in
-- (0005, 0006, 0007) keep their frozen files in history/. Idempotent: a
-- migration applies this file (absurd_core/migrations/0012_current_sql.py).
--
-- Trigger functions take the queue name as their first argument (TG_ARGV[0]),
-- given at installation, so they never parse table names.

-- == Helpers ==============================================================

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

-- == The event log ========================================================
--
-- public.absurd_control_task_event (the TaskEvent model). Every write to it is
-- in this file: the triggers below through log_event, the deferral rewrite of
-- log_deferral (called by the tenant claim gate, tenants/sql/concurrency.sql),
-- and the deletes that follow the engine's cleanups.

-- One row of the event log, timed by the engine's clock.
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

-- A claimed run was turned away by a claim gate (the tenant concurrency limit)
-- and put back to sleep in the same statement: no code ran. The triggers have
-- just logged a 'claimed' and a 'sleeping' row for it. The first deferral of a
-- run keeps one 'deferred' row instead (the sleep row, with the state the task
-- was claimed from, p_reason and p_detail merged in); later deferrals of the
-- same run log nothing. A task's transitions are serialised by its row lock, so
-- its newest 'claimed' row is the claim of this statement.
create or replace function absurd_control.log_deferral(
  p_queue_name text, p_task_id uuid, p_first boolean, p_reason text, p_detail jsonb
)
  returns void
  language plpgsql
as $$
declare
  v_claimed record;
begin
  select id, from_state into v_claimed
    from public.absurd_control_task_event
   where queue = p_queue_name and task_id = p_task_id and kind = 'claimed'
   order by id desc limit 1;
  if p_first then
    update public.absurd_control_task_event
       set kind = 'deferred', from_state = coalesce(v_claimed.from_state, from_state),
           reason = p_reason,
           detail = detail || p_detail
     where queue = p_queue_name and task_id = p_task_id and id > v_claimed.id
       and kind = 'sleeping';
    delete from public.absurd_control_task_event where id = v_claimed.id;
  else
    delete from public.absurd_control_task_event
     where queue = p_queue_name and task_id = p_task_id and id >= v_claimed.id
       and kind in ('claimed', 'sleeping');
  end if;
end;
$$;

-- == The event log as a listener feed =====================================
--
-- Plugin lifecycle listeners read the event log in order and remember where
-- they stopped (absurd_core/listeners.py). Ordering by id alone would lose
-- rows: ids are taken at insert, so a transaction that inserted id 10 can
-- commit after another's id 11 has been read and the cursor moved past 10.
-- Each row therefore records its writing transaction, and readers take only
-- rows of transactions older than every transaction still running
-- (pg_snapshot_xmin of the current snapshot), in (txid, id) order. That set
-- only ever grows at its end, so a cursor over it never skips a row.

alter table public.absurd_control_task_event
  add column if not exists txid xid8 not null default pg_current_xact_id();

-- == Dead letters =========================================================
--
-- public.absurd_control_dead_letter (the DeadLetter model): one open entry per
-- failed task, whichever path failed it.

-- A task failed: one open dead letter per task; a task failing again after a
-- retry gets a new one.
create or replace function absurd_control.record_dead_letter(
  p_queue_name text, p_tenant text, p_task_id uuid, p_task_name text, p_reason jsonb,
  p_attempts integer
)
  returns void
  language sql
as $$
  insert into public.absurd_control_dead_letter
    (tenant, queue, task_id, task_name, error_name, error_message, attempts, failed_at, state)
  values
    (p_tenant, p_queue_name, p_task_id, p_task_name, p_reason->>'name',
     left(p_reason->>'message', 2000), p_attempts, absurd.current_time(), 'open')
  on conflict (queue, task_id) where state = 'open' do nothing;
$$;

-- A failed or cancelled task was retried by any path (absurdctl, SQL, our
-- API): its open dead letter is resolved. absurd_core.dead_letters resolves it
-- first, with the operator, so resolved_by keeps that name.
create or replace function absurd_control.resolve_dead_letter(p_queue_name text, p_task_id uuid)
  returns void
  language sql
as $$
  update public.absurd_control_dead_letter
     set state = 'retried', resolved_by = coalesce(resolved_by, 'absurd.retry_task'),
         resolved_at = absurd.current_time()
   where queue = p_queue_name and task_id = p_task_id and state = 'open';
$$;

-- == The terminal-state hook ==============================================
--
-- Other apps register a function here, by its schema-qualified name; it is
-- called as fn(queue text, task_id uuid, state text, tenant text) in the
-- transaction that moves the task to completed, failed or cancelled, by any
-- path. A hook that raises is reported with a WARNING and skipped: one broken
-- hook must not stop every transition of a queue (claim_task itself fails
-- expired leases and cancels tasks).
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

-- == Triggers on t_<queue> ================================================

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
  return null;
end;
$$;

-- t_<queue> AFTER UPDATE OF state (or of last_attempt_run): one task
-- transition, as a list of consequences:
--
-- 1. classify: which kind of transition this is, with the run that caused it,
--    a reason and details;
-- 2. log it (log_event);
-- 3. dead-letter a failure (record_dead_letter), resolve one on a retry
--    (resolve_dead_letter);
-- 4. call the terminal hooks on completed, failed, cancelled, and count the
--    finished transitions for the overview chart (count_finished).
--
-- Every engine function but cancel_task updates the run before the task, so
-- the run row read here shows the new run state; cancel_task updates the task
-- first, and its log row needs nothing from the run.
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
  v_ran_s numeric;
begin
  -- 1. Classify. The run row is read only for the transitions that need its
  -- details (a wait, a failure, a completion's working time): claims, the
  -- most frequent transition, skip it.
  if new.state in ('sleeping', 'failed', 'cancelled', 'completed')
     or (new.state = 'pending' and new.last_attempt_run is distinct from old.last_attempt_run) then
    execute format(
      'select run_id, attempt, state, wake_event, available_at, failure_reason,
              started_at, completed_at
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
    -- How long the run that completed the task worked, since its last claim
    -- (so a sleep is not counted), in seconds: in the log, and in the duration
    -- chart (4b). None when the run was never claimed.
    if v_run.started_at is not null then
      v_ran_s := round(extract(epoch from
        coalesce(v_run.completed_at, absurd.current_time()) - v_run.started_at), 6);
      v_detail := jsonb_build_object('ran_s', v_ran_s);
    end if;
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

  -- 2. Log.
  perform absurd_control.log_event(
    v_queue, v_tenant, new.task_id, v_run_id, v_attempt, v_kind, old.state, new.state,
    null, v_reason, v_detail
  );

  -- 3. Dead letters.
  if new.state = 'failed' then
    perform absurd_control.record_dead_letter(
      v_queue, v_tenant, new.task_id, new.task_name, v_run.failure_reason, new.attempts
    );
  elsif v_kind = 'retried' then
    perform absurd_control.resolve_dead_letter(v_queue, new.task_id);
  end if;

  -- 4. Terminal hooks.
  if new.state in ('completed', 'failed', 'cancelled') then
    perform absurd_control.run_terminal_hooks(v_queue, new.task_id, new.state, v_tenant);
  end if;

  -- 4b. The overview chart's counts and durations (throughput.sql).
  if v_kind in ('completed', 'failed', 'retry_scheduled', 'retried') then
    perform absurd_control.count_finished(
      v_queue, v_tenant, v_kind, absurd.current_time(), new.task_name, v_ran_s::double precision
    );
  end if;
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

-- == Triggers on e_<queue> ================================================

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

-- == A dropped queue ======================================================

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
