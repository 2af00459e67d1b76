-- Absurd Control's per-queue equipment and the mechanism that installs it on
-- every queue, current truth. Idempotent; applied, last of the core files, by a
-- migration (absurd_core/migrations/0012_current_sql.py). History: 0002, 0005,
-- 0006, 0009 and 0010 in history/.
--
-- Upstream Absurd creates one set of tables per queue (t_, r_, c_, e_, w_) and
-- changes their rows only inside its SQL functions, which anyone may call: our
-- worker, absurdctl, a psql session. Whatever must follow a transition is done
-- by triggers on those tables (lifecycle.sql, wakeups.sql), so that every path
-- gets it (DESIGN.md, principle 1). Our objects live in the schema
-- absurd_control; we never create or replace anything in the absurd schema
-- except triggers and indexes on the per-queue tables.
--
-- Installation, three ways, all idempotent (see docs/lifecycle.md):
-- 1. an event trigger on CREATE TABLE in schema absurd, when our role is a
--    superuser (event triggers require it): the queue is equipped inside the
--    very transaction that creates it;
-- 2. absurd_control.install_all_queues(), called by runworker before it claims
--    and then every few seconds, for roles that cannot own event triggers;
-- 3. absurd_core.engine.create_queue(), which calls install_queue() itself.
--
-- Apps above the core add equipment of their own through the installer
-- registry (queue_installer, below) instead of replacing these functions: the
-- tenant concurrency limiter's release trigger (tenants/sql/concurrency.sql).

create schema if not exists absurd_control;

-- == Which tables are a queue's ===========================================
--
-- A table is a queue's only when all of this holds:
-- - it is in schema absurd and named exactly <prefix><queue> (a name PostgreSQL
--   truncated to 63 bytes never matches), for a queue registered in absurd.queues;
-- - it is a plain or partitioned table, not a partition of one (the parent is
--   equipped; partitioned indexes and triggers reach its partitions);
-- - it has every column our triggers and indexes read, with the engine's type.
-- Upstream's own test_drop_queue_supports_legacy_overlong_names registers a
-- queue and creates t_/r_/c_/e_/w_ tables of that name with a single "id
-- integer" column: DDL we do not own must never fail because of us. Every
-- installer and every function of ours that writes a queue table finds its
-- table through queue_table(), so all of them get the same rule.

-- The columns our SQL reads from each equipped table, with their types. Only
-- t_, r_ and e_ are equipped; any other prefix has no columns and no table.
create or replace function absurd_control.engine_columns(p_prefix text)
  returns table (column_name name, type_name regtype)
  language sql
  stable
as $$
  select c.column_name::name, c.type_name::regtype
    from (values
      ('t_', 'task_id', 'uuid'), ('t_', 'task_name', 'text'), ('t_', 'headers', 'jsonb'),
      ('t_', 'state', 'text'), ('t_', 'attempts', 'integer'),
      ('t_', 'last_attempt_run', 'uuid'),
      ('r_', 'run_id', 'uuid'), ('r_', 'task_id', 'uuid'), ('r_', 'attempt', 'integer'),
      ('r_', 'state', 'text'), ('r_', 'available_at', 'timestamp with time zone'),
      ('r_', 'wake_event', 'text'), ('r_', 'failure_reason', 'jsonb'),
      ('e_', 'event_name', 'text'), ('e_', 'payload', 'jsonb')
    ) as c(prefix, column_name, type_name)
   where c.prefix = p_prefix;
$$;

-- Qualified regclass of a queue's table, or null unless it is one (see above).
create or replace function absurd_control.queue_table(p_prefix text, p_queue_name text)
  returns regclass
  language sql
  stable
as $$
  select c.oid::regclass
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'absurd'
     and c.relname = (p_prefix || p_queue_name)::name
     and c.relname::text = p_prefix || p_queue_name
     and c.relkind in ('r', 'p')
     and not c.relispartition
     and exists (select 1 from absurd.queues q where q.queue_name = p_queue_name)
     and exists (select 1 from absurd_control.engine_columns(p_prefix))
     and not exists (
       select 1 from absurd_control.engine_columns(p_prefix) need
        where not exists (
          select 1 from pg_attribute a
           where a.attrelid = c.oid and a.attname = need.column_name
             and a.atttypid = need.type_name and a.attnum > 0 and not a.attisdropped
        )
     );
$$;

-- == Triggers, created once ===============================================

-- Whether a trigger of that name exists on the table (avoids re-creating it:
-- CREATE TRIGGER takes a lock that would stall a busy queue).
create or replace function absurd_control.has_trigger(p_table regclass, p_name text)
  returns boolean
  language sql
  stable
as $$
  select exists (select 1 from pg_trigger where tgrelid = p_table and tgname = p_name);
$$;

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

-- == The equipment of each table ==========================================

-- r_<queue>: the wake-up trigger (wakeups.sql) and the claim index.
--
-- absurd.claim_task looks for runs in state pending/sleeping ordered by
-- available_at. Upstream's (state, available_at) index serves the filter, but
-- completed history still sits in the same index pages and in the planner's
-- statistics; a partial index over live runs keeps the candidate scan
-- independent of how much history the queue holds.
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

-- t_<queue>: the tenant and task-name indexes (indexes.sql) and the lifecycle
-- triggers (lifecycle.sql).
create or replace function absurd_control.install_tasks_table(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_changed boolean := absurd_control.install_tenant_index(p_queue_name);
begin
  v_changed := absurd_control.install_task_name_index(p_queue_name) or v_changed;
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

-- e_<queue>: the emitted-event triggers (lifecycle.sql).
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

-- == The installer registry ================================================
--
-- Equipment of apps above the core (the pattern of terminal_hook). An app
-- registers a function by its schema-qualified name; it is called as
-- fn(prefix text, queue text) returns boolean for every table install_table
-- equips ('r_', 't_', 'e_'), after the core's own equipment, in name order, and
-- returns whether it added anything. It must be idempotent and cheap when there
-- is nothing to add: install_all_queues runs every few seconds. An installer
-- that raises fails the installation, as the core's own equipment would.
create table if not exists absurd_control.queue_installer (
  name text primary key,
  function_name text not null check (to_regproc(function_name) is not null),
  created_at timestamptz not null default now()
);

create or replace function absurd_control.run_queue_installers(
  p_prefix text, p_queue_name text
)
  returns boolean
  language plpgsql
as $$
declare
  v_installer record;
  v_added boolean;
  v_changed boolean := false;
begin
  for v_installer in
    select function_name from absurd_control.queue_installer order by name
  loop
    execute format('select %s($1, $2)', v_installer.function_name::regproc)
      into v_added using p_prefix, p_queue_name;
    v_changed := coalesce(v_added, false) or v_changed;
  end loop;
  return v_changed;
end;
$$;

-- == Installing ============================================================

-- Equip one table of a queue, by its prefix ('r_', 't_', 'e_'): the core's
-- equipment, then the registered installers'. The event trigger calls it.
create or replace function absurd_control.install_table(p_prefix text, p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_changed boolean;
begin
  case p_prefix
    when 'r_' then v_changed := absurd_control.install_runs_table(p_queue_name);
    when 't_' then v_changed := absurd_control.install_tasks_table(p_queue_name);
    when 'e_' then v_changed := absurd_control.install_events_table(p_queue_name);
    else return false;
  end case;
  return absurd_control.run_queue_installers(p_prefix, p_queue_name) or v_changed;
end;
$$;

-- Equip every table of one queue that exists. Returns true if anything was added.
create or replace function absurd_control.install_queue(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_runs boolean := absurd_control.install_table('r_', p_queue_name);
  v_tasks boolean := absurd_control.install_table('t_', p_queue_name);
  v_events boolean := absurd_control.install_table('e_', p_queue_name);
begin
  return v_runs or v_tasks or v_events;
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

-- Event trigger body: equip a table the moment it is created, when
-- queue_table() says it is a queue's. Anything else in schema absurd (a
-- partition, a legacy or foreign table, c_/w_/i_ tables) is left alone.
create or replace function absurd_control.on_create_table()
  returns event_trigger
  language plpgsql
as $$
declare
  v_cmd record;
  v_relname text;
  v_prefix text;
  v_queue text;
begin
  for v_cmd in
    select objid from pg_event_trigger_ddl_commands()
     where command_tag = 'CREATE TABLE' and schema_name = 'absurd'
  loop
    select relname into v_relname from pg_class where oid = v_cmd.objid;
    v_prefix := left(v_relname, 2);
    v_queue := substr(v_relname, 3);
    if v_prefix in ('t_', 'r_', 'e_')
       and absurd_control.queue_table(v_prefix, v_queue) = v_cmd.objid::regclass then
      perform absurd_control.install_table(v_prefix, v_queue);
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
