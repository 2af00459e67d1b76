-- Absurd Control's per-queue SQL and the mechanism that installs it on every queue.
--
-- Upstream Absurd creates one set of tables per queue (t_, r_, c_, e_, w_) and
-- changes their rows only inside its SQL functions, which anyone may call: our
-- worker, absurdctl, a psql session. Whatever must follow a transition is done
-- here, by triggers on those tables, so that every path gets it (DESIGN.md,
-- principle 1). Our objects live in the schema absurd_control; we never create
-- or replace anything in the absurd schema except triggers and indexes on the
-- per-queue tables.
--
-- Installation, three ways, all idempotent (see docs/lifecycle.md):
-- 1. an event trigger on CREATE TABLE in schema absurd, when our role is a
--    superuser (event triggers require it): the queue is equipped inside the
--    very transaction that creates it;
-- 2. absurd_control.install_all_queues(), called by runworker before it claims
--    and then every few seconds, for roles that cannot own event triggers;
-- 3. absurd_core.engine.create_queue(), which calls install_queue() itself.

create schema if not exists absurd_control;

-- Channel names shared with the worker (absurd_core/worker/listener.py).
-- absurd_control_wake: payload is the queue name; sent when a run becomes
-- claimable now or gets a new finite wake-up time.

-- A run became claimable (now or at a known time): wake the workers of that queue.
--
-- Fires after a spawn (insert), a retry (insert of the next run), an event
-- delivered to a waiter, a sleep (schedule_run) and a released lease
-- (schedule_run to now). A wait without a timeout has available_at = infinity
-- and needs no wake-up. PostgreSQL folds identical notifications within one
-- transaction, so a batch of spawns in one transaction sends one NOTIFY.
create or replace function absurd_control.notify_run_available()
  returns trigger
  language plpgsql
as $$
begin
  if new.state in ('pending', 'sleeping')
     and new.available_at < 'infinity'::timestamptz
     and (tg_op = 'INSERT'
          or old.state is distinct from new.state
          or old.available_at is distinct from new.available_at) then
    perform pg_notify('absurd_control_wake', tg_argv[0]);
  end if;
  return null;
end;
$$;

-- Qualified regclass of a queue table, or null when it does not exist.
create or replace function absurd_control.queue_table(p_prefix text, p_queue_name text)
  returns regclass
  language sql
  stable
as $$
  select to_regclass(format('absurd.%I', p_prefix || p_queue_name));
$$;

-- Whether a trigger of that name exists on the table (avoids re-creating it:
-- CREATE TRIGGER takes a lock that would stall a busy queue).
create or replace function absurd_control.has_trigger(p_table regclass, p_name text)
  returns boolean
  language sql
  stable
as $$
  select exists (select 1 from pg_trigger where tgrelid = p_table and tgname = p_name);
$$;

-- Equip one queue's runs table. Safe to call any number of times.
--
-- Also adds the claim index: absurd.claim_task looks for runs in state
-- pending/sleeping ordered by available_at. Upstream's (state, available_at)
-- index serves the filter, but completed history still sits in the same index
-- pages and in the planner's statistics; a partial index over live runs keeps
-- the candidate scan independent of how much history the queue holds.
create or replace function absurd_control.install_runs_table(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_runs regclass := absurd_control.queue_table('r_', p_queue_name);
  v_live_index text := 'ac_live_' || left(md5(p_queue_name), 20);
  v_changed boolean := false;
begin
  if v_runs is null then
    return false;
  end if;

  if not absurd_control.has_trigger(v_runs, 'absurd_control_wake') then
    execute format(
      'create trigger absurd_control_wake
         after insert or update of state, available_at on %s
         for each row execute function absurd_control.notify_run_available(%L)',
      v_runs, p_queue_name
    );
    v_changed := true;
  end if;

  -- Checked first: even "create index if not exists" locks the table.
  if to_regclass(format('absurd.%I', v_live_index)) is null then
    execute format(
      'create index if not exists %I on %s (available_at, run_id)
         where state in (''pending'', ''sleeping'')',
      v_live_index, v_runs
    );
    v_changed := true;
  end if;
  return v_changed;
end;
$$;

-- Equip every table of one queue that exists. Returns true if anything was added.
create or replace function absurd_control.install_queue(p_queue_name text)
  returns boolean
  language plpgsql
as $$
begin
  return absurd_control.install_runs_table(p_queue_name);
end;
$$;

-- Equip every queue; returns the number of queues that needed something.
create or replace function absurd_control.install_all_queues()
  returns integer
  language plpgsql
as $$
declare
  v_queue text;
  v_count integer := 0;
begin
  for v_queue in select queue_name from absurd.queues order by queue_name loop
    if absurd_control.install_queue(v_queue) then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end;
$$;

-- Equip one table of a queue, by its prefix ('r_', 't_', 'e_'). This version
-- knows the runs table only; 0005_lifecycle.sql replaces it with one that also
-- equips the task and event tables, so on_create_table never changes.
create or replace function absurd_control.install_table(p_prefix text, p_queue_name text)
  returns boolean
  language plpgsql
as $$
begin
  if p_prefix = 'r_' then
    return absurd_control.install_runs_table(p_queue_name);
  end if;
  return false;
end;
$$;

-- Event trigger body: equip a queue table the moment absurd.create_queue()
-- creates it. Partitions (r_<queue>_p...) and unrelated tables are ignored:
-- only a table named <prefix><registered queue> counts.
create or replace function absurd_control.on_create_table()
  returns event_trigger
  language plpgsql
as $$
declare
  v_cmd record;
  v_relname text;
  v_queue text;
begin
  for v_cmd in
    select objid from pg_event_trigger_ddl_commands()
     where command_tag = 'CREATE TABLE' and schema_name = 'absurd'
  loop
    select relname into v_relname from pg_class where oid = v_cmd.objid;
    select queue_name into v_queue
      from absurd.queues where substr(v_relname, 3) = queue_name;
    if v_queue is not null then
      perform absurd_control.install_table(left(v_relname, 2), v_queue);
    end if;
  end loop;
end;
$$;

do $$
begin
  if (select rolsuper from pg_roles where rolname = current_user) then
    drop event trigger if exists absurd_control_create_table;
    create event trigger absurd_control_create_table
      on ddl_command_end
      when tag in ('CREATE TABLE')
      execute function absurd_control.on_create_table();
  else
    raise notice 'absurd_control: not a superuser, so no event trigger; '
                 'runworker installs per-queue SQL on start and every few seconds';
  end if;
end;
$$;

select absurd_control.install_all_queues();
