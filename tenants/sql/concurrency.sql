-- Tenant concurrency limits, current truth: at most N runs of one tenant
-- executing at once, across every worker and queue (docs/tenants.md,
-- "Concurrency limits"). Idempotent; applied by a migration
-- (tenants/migrations/0009_current_sql.py). History: absurd_core/sql/history/
-- 0006_tenant_concurrency.sql and 0010_engine_sized_indexes.sql, from when this
-- policy lived in the core.
--
-- Absurd's claim_task cannot filter by tenant, so the limit is applied right
-- after it, in the same statement (the worker's claim statement):
--
-- 1. admit_claimed_run() takes the tenant's slot if one is free;
-- 2. otherwise it parks the run: absurd.schedule_run() puts it back to sleep
--    for a few hundred milliseconds (longer each time the same run is turned
--    away, up to 30 s), without touching its attempt count; and it parks the
--    rest of the tenant's due backlog in that queue too (park_backlog), so
--    other tenants' work behind it is claimed next;
-- 3. when a slot is released, by any path that moves the run out of
--    'running' (complete, fail, sleep, await, cancel, an expired lease), the
--    trigger below frees the slot and wakes the tenant's oldest parked run at
--    once. Parked runs therefore cost nothing while they wait: the back-off
--    is only the safety net, and there is no busy loop even when one tenant
--    has a backlog of many thousands.
--
-- The objects keep their names in schema absurd_control. The core owns the
-- event log and the per-queue installers: this file writes the log only through
-- absurd_control.log_deferral (absurd_core/sql/lifecycle.sql) and adds its
-- release trigger through the core's installer registry (install.sql).
--
-- Tenant values are any length (a task's headers.tenant): the tenant indexes
-- hold a 256-character prefix, and every lookup filters on the prefix, which
-- the index answers, and on the full value.

-- == The limiter's tables =================================================

-- One row per executing run of a tenant. The trigger on r_<queue> deletes it.
create table if not exists absurd_control.running_slot (
  queue_name text not null,
  run_id uuid not null,
  tenant text not null,
  admitted_at timestamptz not null default clock_timestamp(),
  -- When the row was last checked against the run itself (see admit_claimed_run).
  checked_at timestamptz not null default clock_timestamp(),
  primary key (queue_name, run_id)
);
create index if not exists running_slot_tenant_pfx
  on absurd_control.running_slot (left(tenant, 256), checked_at);

-- Runs turned away because their tenant was at its limit, oldest first.
create table if not exists absurd_control.parked_run (
  queue_name text not null,
  run_id uuid not null,
  tenant text not null,
  -- The run's creation time (its ids are UUIDv7): woken oldest first.
  parked_at timestamptz not null,
  deferrals integer not null default 0,
  -- Set when a released slot woke this run; cleared if it is turned away again.
  woken_at timestamptz,
  primary key (queue_name, run_id)
);
create index if not exists parked_run_next_pfx
  on absurd_control.parked_run (left(tenant, 256), parked_at) where woken_at is null;

-- == Policy ===============================================================

-- The tenant's limit: its own policy, else the platform default row, else the
-- model's defaults (never "unlimited" by accident). Null for platform tenants,
-- which are exempt.
create or replace function absurd_control.concurrency_policy(
  p_tenant text, out max_running integer, out fail_open boolean
)
  language sql
  stable
as $$
  select case when coalesce(t.is_platform, false) then null
              else coalesce(own.max_running, def.max_running, 50) end,
         coalesce(own.concurrency_fail_open, def.concurrency_fail_open, true)
    from (select 1) as one
    left join public.tenants_tenant t on t.slug = p_tenant
    left join public.tenants_ratelimitpolicy own on own.tenant_id = t.id
    left join public.tenants_ratelimitpolicy def on def.tenant_id is null;
$$;

-- == Admission (the claim gate) ===========================================

-- Drop slots whose run is no longer executing. The trigger releases slots on
-- every path, so this only repairs rows left by a queue that ran without our
-- triggers for a while; each slot is checked at most every 30 seconds.
create or replace function absurd_control.repair_slots(p_tenant text)
  returns integer
  language plpgsql
as $$
declare
  v_slot record;
  v_running boolean;
  v_dropped integer := 0;
begin
  for v_slot in
    select queue_name, run_id from absurd_control.running_slot
     where left(tenant, 256) = left(p_tenant, 256) and tenant = p_tenant
       and checked_at < clock_timestamp() - interval '30 seconds'
  loop
    v_running := false;
    if absurd_control.queue_table('r_', v_slot.queue_name) is not null then
      execute format('select exists (select 1 from absurd.%I where run_id = $1 and state = ''running'')',
                     'r_' || v_slot.queue_name)
        into v_running using v_slot.run_id;
    end if;
    if v_running then
      update absurd_control.running_slot set checked_at = clock_timestamp()
       where queue_name = v_slot.queue_name and run_id = v_slot.run_id;
    else
      delete from absurd_control.running_slot
       where queue_name = v_slot.queue_name and run_id = v_slot.run_id;
      v_dropped := v_dropped + 1;
    end if;
  end loop;
  return v_dropped;
end;
$$;

-- Park a run turned away: back to sleep, same attempt. The event log keeps one
-- 'deferred' row for the first deferral of a run instead of the claim and the
-- sleep the engine just logged, and nothing for later ones: no code ran. The
-- core writes that (absurd_control.log_deferral); this function says why.
create or replace function absurd_control.defer_run(
  p_queue_name text, p_run_id uuid, p_tenant text, p_running integer
)
  returns integer  -- how often this run was turned away before
  language plpgsql
as $$
declare
  v_deferrals integer;
  v_delay double precision;
  v_task_id uuid;
  v_wake_event text;
begin
  insert into absurd_control.parked_run as p (queue_name, run_id, tenant, parked_at)
  values (p_queue_name, p_run_id, p_tenant, absurd.uuidv7_timestamp(p_run_id))
  on conflict (queue_name, run_id) do update
     set deferrals = p.deferrals + 1, woken_at = null
  returning deferrals into v_deferrals;

  -- 250 ms, doubling per deferral of this run up to 30 s, with +-20% jitter so
  -- parked runs do not come back in lockstep.
  v_delay := least(0.25 * power(2, least(v_deferrals, 10)), 30) * (0.8 + random() * 0.4);
  execute format('select task_id, wake_event from absurd.%I where run_id = $1',
                 'r_' || p_queue_name)
    into v_task_id, v_wake_event using p_run_id;
  perform absurd.schedule_run(
    p_queue_name, p_run_id, absurd.current_time() + make_interval(secs => v_delay)
  );
  -- schedule_run clears wake_event, but a run claimed because its wait timed
  -- out is told so by wake_event (set, with no payload) when it is claimed
  -- again; without it the SDK would start the wait over. Put back the value
  -- the engine itself had set.
  if v_wake_event is not null then
    execute format('update absurd.%I set wake_event = $2 where run_id = $1',
                   'r_' || p_queue_name)
      using p_run_id, v_wake_event;
  end if;
  perform absurd_control.log_deferral(
    p_queue_name, v_task_id, v_deferrals = 0,
    format('tenant %s at its concurrency limit (%s running)', p_tenant, p_running),
    jsonb_build_object('running', p_running)
  );
  return v_deferrals;
end;
$$;

-- Park the rest of a tenant's due backlog in a queue, once the tenant is found
-- at its limit: without this, the claims would have to take and turn away
-- every one of a flooding tenant's runs, one by one, before reaching another
-- tenant's work queued behind them. Up to p_limit pending runs (never claimed,
-- so no attempt and no state change) get their wake-up time moved 30 seconds
-- on; released slots wake them oldest first (parked_at is the run's creation
-- time, from its UUIDv7), so the 30 seconds are only the safety net.
--
-- Like the wake-up in release_slot, this changes nothing but available_at of
-- runs nobody holds; every other column stays the engine's (defer_run only
-- puts back a wake_event that schedule_run cleared). The core's tenant index
-- (absurd_core/sql/indexes.sql) finds the tenant's pending tasks without
-- reading anyone else's.
create or replace function absurd_control.park_backlog(
  p_queue_name text, p_tenant text, p_limit integer
)
  returns integer
  language plpgsql
as $$
declare
  v_now timestamptz := absurd.current_time();
  v_parked integer;
begin
  execute format(
    'with due as (
        select r.run_id
          from absurd.%1$I t
          join absurd.%2$I r on r.run_id = t.last_attempt_run
         where left(t.headers->>''tenant'', 256) = left($1, 256)
           and t.headers->>''tenant'' = $1 and t.state = ''pending''
           and r.state = ''pending'' and r.available_at <= $2
         order by t.task_id desc
         limit $3
           for update of r skip locked
     ), moved as (
        update absurd.%2$I r set available_at = $2 + interval ''30 seconds''
          from due where r.run_id = due.run_id
        returning r.run_id
     )
     insert into absurd_control.parked_run as p (queue_name, run_id, tenant, parked_at)
     select $4, run_id, $1, absurd.uuidv7_timestamp(run_id) from moved
     on conflict (queue_name, run_id) do update set woken_at = null',
    't_' || p_queue_name, 'r_' || p_queue_name
  ) using p_tenant, v_now, p_limit, p_queue_name;
  get diagnostics v_parked = row_count;
  return v_parked;
end;
$$;

-- Called by the worker for each run absurd.claim_task just gave it (same
-- statement, same transaction). True: run it. False: it was parked (see
-- defer_run) and the worker must forget it.
--
-- Admissions of one tenant serialise on a transaction-level advisory lock,
-- held until the claim statement commits, so two workers can never both take
-- the last slot. If the limiter's own storage fails, the policy's fail_open
-- decides (default: open, run it) and the failure is reported as a WARNING,
-- which the worker logs.
create or replace function absurd_control.admit_claimed_run(
  p_queue_name text, p_run_id uuid, p_tenant text
)
  returns boolean
  language plpgsql
as $$
declare
  v_policy record;
  v_running integer;
begin
  if p_tenant is null then
    return true;  -- spawned outside our code without a tenant: no tenant to limit
  end if;
  v_policy := absurd_control.concurrency_policy(p_tenant);
  if v_policy.max_running is null then
    return true;  -- platform tenant: exempt
  end if;

  begin
    perform pg_advisory_xact_lock(hashtextextended('absurd_control.running:' || p_tenant, 0));
    select count(*) into v_running from absurd_control.running_slot
     where left(tenant, 256) = left(p_tenant, 256) and tenant = p_tenant;
    if v_running >= v_policy.max_running then
      v_running := v_running - absurd_control.repair_slots(p_tenant);
    end if;
    if v_running < v_policy.max_running then
      insert into absurd_control.running_slot (queue_name, run_id, tenant)
      values (p_queue_name, p_run_id, p_tenant)
      on conflict (queue_name, run_id) do nothing;
      delete from absurd_control.parked_run where queue_name = p_queue_name and run_id = p_run_id;
      return true;
    end if;
    -- A run turned away before (a woken parked run that lost its slot to a newer
    -- one) means the backlog was parked already: skip the scan of it.
    if absurd_control.defer_run(p_queue_name, p_run_id, p_tenant, v_running) = 0 then
      perform absurd_control.park_backlog(p_queue_name, p_tenant, 500);
    end if;
    return false;
  exception when others then
    raise warning 'absurd_control concurrency limiter failed for tenant % (failing %): %',
      p_tenant, case when v_policy.fail_open then 'open' else 'closed' end, sqlerrm;
  end;

  if v_policy.fail_open then
    return true;
  end if;
  -- Failing closed: give the run back for later, without the limiter's tables.
  begin
    perform absurd.schedule_run(p_queue_name, p_run_id, absurd.current_time() + interval '1 second');
    return false;
  exception when others then
    raise warning 'absurd_control could not defer run % (running it): %', p_run_id, sqlerrm;
    return true;
  end;
end;
$$;

-- == Release ==============================================================

-- r_<queue> AFTER UPDATE OF state: the run stopped executing (completed,
-- failed, slept, awaits an event, was cancelled, lost its lease) or ended.
-- Frees its slot and wakes the tenant's oldest parked run (release_slot).
--
-- A failure here (the limiter's tables locked or broken) is reported as a
-- WARNING and swallowed: the limiter must never stop the engine's own
-- transition. A slot left behind is repaired by admit_claimed_run.
create or replace function absurd_control.on_run_released()
  returns trigger
  language plpgsql
as $$
begin
  perform absurd_control.release_slot(tg_argv[0], new.run_id, old.state, new.state);
  return null;
exception when others then
  raise warning 'absurd_control could not release the slot of run % in queue %: %',
    new.run_id, tg_argv[0], sqlerrm;
  return null;
end;
$$;

-- Free a run's slot, forget it as parked once it ended, and wake the tenant's
-- oldest parked run by moving its wake-up time to now; absurd_control_wake then
-- notifies the workers. Only available_at of a sleeping run is changed: exactly
-- what schedule_run would have set had the slot been free.
create or replace function absurd_control.release_slot(
  p_queue_name text, p_run_id uuid, p_old_state text, p_new_state text
)
  returns void
  language plpgsql
as $$
declare
  v_tenant text;
  v_next record;
  v_now timestamptz := absurd.current_time();
begin
  if p_new_state in ('completed', 'failed', 'cancelled') then
    delete from absurd_control.parked_run where queue_name = p_queue_name and run_id = p_run_id;
  end if;
  if p_old_state <> 'running' then
    return;
  end if;
  delete from absurd_control.running_slot
   where queue_name = p_queue_name and run_id = p_run_id
  returning tenant into v_tenant;
  if v_tenant is null then
    return;
  end if;

  for v_next in
    select queue_name, run_id from absurd_control.parked_run
     where left(tenant, 256) = left(v_tenant, 256) and tenant = v_tenant and woken_at is null
     order by parked_at
     limit 1
     for update skip locked
  loop
    update absurd_control.parked_run set woken_at = v_now
     where queue_name = v_next.queue_name and run_id = v_next.run_id;
    if absurd_control.queue_table('r_', v_next.queue_name) is not null then
      -- skip locked: a run some claim holds right now needs no waking.
      execute format(
        'update absurd.%1$I set available_at = $2
          where run_id = (select run_id from absurd.%1$I
                           where run_id = $1 and state in (''pending'', ''sleeping'')
                             and available_at > $2
                             for update skip locked)',
        'r_' || v_next.queue_name
      ) using v_next.run_id, v_now;
    end if;
  end loop;
end;
$$;

-- The release trigger on one queue's runs table (once: CREATE TRIGGER locks it).
create or replace function absurd_control.install_runs_release(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_runs regclass := absurd_control.queue_table('r_', p_queue_name);
begin
  return absurd_control.ensure_trigger(v_runs, 'absurd_control_run_released', format(
    'after update of state on %s for each row when (old.state is distinct from new.state'
    ' and (old.state = ''running'' or new.state in (''completed'', ''failed'', ''cancelled'')))'
    ' execute function absurd_control.on_run_released(%L)', v_runs, p_queue_name));
end;
$$;

-- The installer the core calls for every table it equips (its installer
-- registry, absurd_core/sql/install.sql): runs tables get the release trigger.
create or replace function absurd_control.install_tenant_concurrency(
  p_prefix text, p_queue_name text
)
  returns boolean
  language plpgsql
as $$
begin
  if p_prefix = 'r_' then
    return absurd_control.install_runs_release(p_queue_name);
  end if;
  return false;
end;
$$;

insert into absurd_control.queue_installer (name, function_name)
values ('tenants.concurrency', 'absurd_control.install_tenant_concurrency')
on conflict (name) do update set function_name = excluded.function_name;

-- A dropped queue leaves no slots or parked runs behind.
create or replace function absurd_control.on_queue_dropped_release()
  returns trigger
  language plpgsql
as $$
begin
  delete from absurd_control.running_slot where queue_name = old.queue_name;
  delete from absurd_control.parked_run where queue_name = old.queue_name;
  return null;
end;
$$;

drop trigger if exists absurd_control_queue_dropped_release on absurd.queues;
create trigger absurd_control_queue_dropped_release
  after delete on absurd.queues
  for each row execute function absurd_control.on_queue_dropped_release();

select absurd_control.install_all_queues();
