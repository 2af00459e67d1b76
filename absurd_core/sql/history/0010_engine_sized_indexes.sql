-- Absurd Control 0010: indexes that accept whatever the engine accepts, and
-- equipment that touches only the tables of real queues. Idempotent, like every
-- file here. docs/lifecycle.md ("Indexes sized for the engine" and "Which tables
-- are equipped") has the why; the tests are tests/core/test_engine_sized_indexes.py
-- and tests/core/test_ddl_trigger.py.

-- == Which tables are a queue's ==========================================
--
-- Until now a table counted as a queue's when its name was <prefix><queue> for
-- a queue in absurd.queues. That is not enough: upstream's own
-- test_drop_queue_supports_legacy_overlong_names registers a queue and creates
-- t_/r_/c_/e_/w_ tables of that name with a single "id integer" column, and our
-- event trigger then failed the CREATE TABLE ("column headers does not exist").
-- DDL we do not own must never fail because of us.
--
-- A table is now a queue's only when all of this holds:
-- - it is in schema absurd and named exactly <prefix><queue> (a name PostgreSQL
--   truncated to 63 bytes never matches), for a queue registered in absurd.queues;
-- - it is a plain or partitioned table, not a partition of one (the parent is
--   equipped; partitioned indexes and triggers reach its partitions);
-- - it has every column our triggers and indexes read, with the engine's type.
-- Every installer (event trigger, install_all_queues for roles without one,
-- engine.create_queue) and every function of ours that writes a queue table
-- finds its table through queue_table(), so all of them get the same rule.

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
-- Replaces 0002's version, which only checked that a table of that name existed.
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

-- Event trigger body (replaces 0002's): equip a table the moment it is created,
-- when queue_table() says it is a queue's. Anything else in schema absurd (a
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

-- == Indexes sized for the engine ========================================
--
-- The engine stores task_name and headers as text and jsonb of any length; a
-- btree index entry cannot exceed about 2,700 bytes (a third of a page), so our
-- plain indexes on task_name and headers->>'tenant' made spawn_task fail with
-- "index row size exceeds btree maximum" for a 3,200-character name or tenant
-- that plain Absurd accepts. Both indexes now hold the first 256 characters
-- (at most 1,024 bytes in UTF-8): readers filter on the same left(..., 256)
-- expression, which the index answers, AND on the full value, which rejects the
-- rare rows that only share the prefix (absurd_core/index_keys.py).
--
-- The other index we put on engine tables, ac_live_ (r_, available_at and
-- run_id: fixed-size values), needs no change.

-- "Tasks of tenant T in state S, newest first": tenant-scoped dashboards, API
-- lists, counts, park_backlog. Task ids are UUIDv7, so task_id order is
-- creation order. Replaces 0005's ac_tenant_<md5> (full tenant value).
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
-- filter (0009). Replaces 0009's ac_name_<md5> (full task_name).
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

-- park_backlog (0006) with the tenant filter the new index answers; otherwise
-- unchanged: see 0006_tenant_concurrency.sql for what it does and why.
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

-- == The concurrency limiter's own tables =================================
--
-- running_slot and parked_run (0006) hold the tenant of a claimed run, which is
-- its task's headers.tenant: any length. Their tenant indexes become prefix
-- indexes like the ones above, and the three functions that look a tenant's
-- rows up filter on the prefix and the full value; otherwise they are 0006's
-- (see 0006_tenant_concurrency.sql for what they do and why). Before this, a
-- 3,200-character tenant made admit_claimed_run fail its insert: the limiter
-- reported a WARNING and failed open (or, with fail_open off, put the run back
-- for ever).

drop index if exists absurd_control.running_slot_tenant;
create index if not exists running_slot_tenant_pfx
  on absurd_control.running_slot (left(tenant, 256), checked_at);
drop index if exists absurd_control.parked_run_next;
create index if not exists parked_run_next_pfx
  on absurd_control.parked_run (left(tenant, 256), parked_at) where woken_at is null;

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


-- Replace the old indexes on every existing queue: drop the full-value ones
-- (whatever table they are on), then equip, which builds the prefix ones on the
-- tables that are a queue's. Legacy or foreign tables of a registered name are
-- skipped by queue_table() instead of failing the migration.
do $$
declare
  v_queue text;
begin
  for v_queue in select queue_name from absurd.queues loop
    execute format('drop index if exists absurd.%I', 'ac_tenant_' || left(md5(v_queue), 20));
    execute format('drop index if exists absurd.%I', 'ac_name_' || left(md5(v_queue), 20));
  end loop;
end;
$$;

select absurd_control.install_all_queues();
