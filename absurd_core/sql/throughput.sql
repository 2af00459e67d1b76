-- The overview chart's aggregates, current truth. Idempotent; applied by a
-- migration (absurd_core/migrations/0019_throughput_charts.py).
--
-- Two tables of ours (Django models in absurd_core/models.py), written only
-- here, read by absurd_core/queries/throughput.py:
--
-- * public.absurd_control_throughput: per (span, bucket, queue, tenant), how
--   many tasks completed, failed for good, and how many attempts failed and
--   were followed by a new run (retried: fail_run's 'retry_scheduled' and an
--   operator's retry_task, 'retried');
-- * public.absurd_control_run_duration: per (span, bucket, queue, tenant,
--   task name, bin), how many completed runs took about so long.
--
-- Each row also carries its writer, the backend (pg_backend_pid()) whose
-- transactions counted into it. A backend runs one transaction at a time, so
-- two concurrent transactions never upsert the same row: workers finishing
-- tasks of one queue and tenant in the same minute do not queue behind one
-- another's row lock until commit, and cannot deadlock on these rows whatever
-- order they finish tasks in. Readers sum over writers; a bucket has a row per
-- connection that finished work in it (a handful: workers keep their
-- connections).
--
-- Every event is counted twice, in its minute (span 1) and in its hour
-- (span 60): the 1-hour and 24-hour charts read minutes, the 7-day chart reads
-- hours, so no chart sums more than a few thousand rows however many tasks
-- ran (the event log itself would be a million rows for the 7-day chart).
-- Buckets start on UTC minute and hour boundaries (date_bin from 2000-01-01
-- UTC), whatever the session's time zone. Tenants and task names are keyed by
-- their first 256 characters (absurd_core/index_keys.py), the tenant as ''
-- for a task without one.
--
-- The rows are kept after the engine's cleanup deletes the tasks and their
-- event log: the chart shows what happened, not what is still stored.
-- prune_throughput drops what no chart reads any more.

-- The histogram bin of a duration: quarter powers of two of milliseconds,
-- bin = floor(4 * log2(ms)), 0 for anything up to 1 ms and at most 127
-- (2^31.75 ms, 40 days). A bin's representative value is its geometric middle,
-- 2^((bin + 0.5) / 4) ms, within 9% of every duration in it.
create or replace function absurd_control.duration_bin(p_seconds double precision)
  returns smallint
  language sql
  immutable
as $$
  select case
    when p_seconds is null or p_seconds <= 0.001 then 0
    else least(127, floor(4 * log(2.0, (p_seconds * 1000)::numeric)))
  end::smallint;
$$;

-- A bucket's start: the minute or the hour of p_at, on UTC boundaries.
create or replace function absurd_control.throughput_bucket(p_span smallint, p_at timestamptz)
  returns timestamptz
  language sql
  immutable
as $$
  select date_bin(make_interval(mins => p_span), p_at, timestamptz '2000-01-01 00:00:00+00');
$$;

-- public.absurd_control_task_event AFTER INSERT, for each statement, with the
-- inserted rows as new_events: count the finished ones into the aggregates,
-- set-based. The event log is written one row per statement by log_event
-- (lifecycle.sql), and in bulk by loaders; either way this runs once per
-- statement. Statements that insert nothing counted (spawns, claims, sleeps:
-- most of them) stop after one look at their rows.
--
-- Each statement adds to its writer's own rows (see above). Durations need the
-- run (started_at: the claim that ran the run to its end, so a sleep is not
-- counted as work) and the task name. The lifecycle trigger puts both in a
-- 'completed' row's detail (task_name, ran_s); for a row without them (a bulk
-- loader) both are read from the queue's own tables, found with to_regclass,
-- and an event of a queue that has no tables (dropped meanwhile) is counted
-- without a duration.
create or replace function absurd_control.on_task_event_insert()
  returns trigger
  language plpgsql
as $$
declare
  v_queue text;
  v_runs regclass;
  v_tasks regclass;
begin
  if not exists (
    select 1 from new_events
     where kind in ('completed', 'failed', 'retry_scheduled', 'retried')
  ) then
    return null;
  end if;

  insert into public.absurd_control_throughput as a
    (span, bucket, queue, tenant, writer, completed, failed, retried)
  select s.span, absurd_control.throughput_bucket(s.span, e.created_at), e.queue,
         coalesce(left(e.tenant, 256), ''), pg_backend_pid(),
         count(*) filter (where e.kind = 'completed'),
         count(*) filter (where e.kind = 'failed'),
         count(*) filter (where e.kind in ('retry_scheduled', 'retried'))
    from new_events e
   cross join (values (1::smallint), (60::smallint)) s(span)
   where e.kind in ('completed', 'failed', 'retry_scheduled', 'retried')
   group by 1, 2, 3, 4
  on conflict (span, bucket, queue, tenant, writer) do update
     set completed = a.completed + excluded.completed,
         failed = a.failed + excluded.failed,
         retried = a.retried + excluded.retried;

  -- Durations of the rows the lifecycle trigger wrote: their detail carries
  -- the task's name and the run's working time (ran_s; none when the run was
  -- never claimed), so this is one static statement, planned once per session.
  insert into public.absurd_control_run_duration as d
    (span, bucket, queue, tenant, task_name, bin, writer, runs)
  select s.span, absurd_control.throughput_bucket(s.span, e.created_at), e.queue,
         coalesce(left(e.tenant, 256), ''), left(e.detail->>'task_name', 256),
         absurd_control.duration_bin((e.detail->>'ran_s')::double precision),
         pg_backend_pid(), count(*)
    from new_events e
   cross join (values (1::smallint), (60::smallint)) s(span)
   where e.kind = 'completed' and e.detail ? 'task_name' and e.detail ? 'ran_s'
   group by 1, 2, 3, 4, 5, 6
  on conflict (span, bucket, queue, tenant, task_name, bin, writer) do update
     set runs = d.runs + excluded.runs;
  -- Rows written without the task's name (a bulk loader, or a writer older
  -- than that detail): joined with the queue's own tables, queue by queue.
  for v_queue in
    select distinct queue from new_events
     where kind = 'completed' and run_id is not null
       and not coalesce(detail ? 'task_name', false)
  loop
    v_runs := to_regclass(format('absurd.%I', 'r_' || v_queue));
    v_tasks := to_regclass(format('absurd.%I', 't_' || v_queue));
    continue when v_runs is null or v_tasks is null;
    execute format(
      'insert into public.absurd_control_run_duration as d
         (span, bucket, queue, tenant, task_name, bin, writer, runs)
       select s.span, absurd_control.throughput_bucket(s.span, e.created_at), $1,
              coalesce(left(e.tenant, 256), ''''), left(t.task_name, 256),
              absurd_control.duration_bin(
                extract(epoch from coalesce(r.completed_at, e.created_at) - r.started_at)),
              pg_backend_pid(), count(*)
         from new_events e
         join %s r on r.run_id = e.run_id
         join %s t on t.task_id = e.task_id
        cross join (values (1::smallint), (60::smallint)) s(span)
        where e.queue = $1 and e.kind = ''completed'' and r.started_at is not null
          and not coalesce(e.detail ? ''task_name'', false)
        group by 1, 2, 3, 4, 5, 6
       on conflict (span, bucket, queue, tenant, task_name, bin, writer) do update
          set runs = d.runs + excluded.runs',
      v_runs, v_tasks
    ) using v_queue;
  end loop;
  return null;
end;
$$;

drop trigger if exists absurd_control_throughput on public.absurd_control_task_event;
create trigger absurd_control_throughput
  after insert on public.absurd_control_task_event
  referencing new table as new_events
  for each statement execute function absurd_control.on_task_event_insert();

-- Drop the rows no chart reads: minutes older than p_minutes_kept (the 24-hour
-- chart reads minutes), hours older than p_hours_kept (the 7-day chart reads
-- hours). Returns how many rows were deleted. Called by the worker's
-- housekeeping (absurd_core/worker/housekeeping.py); set-based, bounded by
-- the batch size per call.
create or replace function absurd_control.prune_throughput(
  p_now timestamptz default absurd.current_time(),
  p_minutes_kept interval default interval '2 days',
  p_hours_kept interval default interval '8 days',
  p_batch integer default 10000
)
  returns bigint
  language plpgsql
as $$
declare
  v_deleted bigint := 0;
  v_count bigint;
begin
  delete from public.absurd_control_throughput
   where id in (
     select id from public.absurd_control_throughput
      where (span = 1 and bucket < p_now - p_minutes_kept)
         or (span = 60 and bucket < p_now - p_hours_kept)
      limit p_batch);
  get diagnostics v_count = row_count;
  v_deleted := v_deleted + v_count;
  delete from public.absurd_control_run_duration
   where id in (
     select id from public.absurd_control_run_duration
      where (span = 1 and bucket < p_now - p_minutes_kept)
         or (span = 60 and bucket < p_now - p_hours_kept)
      limit p_batch);
  get diagnostics v_count = row_count;
  return v_deleted + v_count;
end;
$$;

-- Rebuild both aggregates from the event log, set-based: what the trigger
-- would have counted for every finished event still in the log. Used once by
-- the migration that adds them (history logged before it), and by tests.
create or replace function absurd_control.rebuild_throughput()
  returns void
  language plpgsql
as $$
declare
  v_queue text;
  v_runs regclass;
  v_tasks regclass;
begin
  delete from public.absurd_control_throughput;
  delete from public.absurd_control_run_duration;
  insert into public.absurd_control_throughput
    (span, bucket, queue, tenant, writer, completed, failed, retried)
  select s.span, absurd_control.throughput_bucket(s.span, e.created_at), e.queue,
         coalesce(left(e.tenant, 256), ''), 0,
         count(*) filter (where e.kind = 'completed'),
         count(*) filter (where e.kind = 'failed'),
         count(*) filter (where e.kind in ('retry_scheduled', 'retried'))
    from public.absurd_control_task_event e
   cross join (values (1::smallint), (60::smallint)) s(span)
   where e.kind in ('completed', 'failed', 'retry_scheduled', 'retried')
   group by 1, 2, 3, 4;
  for v_queue in select queue_name from absurd.queues loop
    v_runs := to_regclass(format('absurd.%I', 'r_' || v_queue));
    v_tasks := to_regclass(format('absurd.%I', 't_' || v_queue));
    continue when v_runs is null or v_tasks is null;
    execute format(
      'insert into public.absurd_control_run_duration
         (span, bucket, queue, tenant, task_name, bin, writer, runs)
       select s.span, absurd_control.throughput_bucket(s.span, e.created_at), $1,
              coalesce(left(e.tenant, 256), ''''), left(t.task_name, 256),
              absurd_control.duration_bin(
                extract(epoch from coalesce(r.completed_at, e.created_at) - r.started_at)),
              0, count(*)
         from public.absurd_control_task_event e
         join %s r on r.run_id = e.run_id
         join %s t on t.task_id = e.task_id
        cross join (values (1::smallint), (60::smallint)) s(span)
        where e.queue = $1 and e.kind = ''completed'' and r.started_at is not null
        group by 1, 2, 3, 4, 5, 6',
      v_runs, v_tasks
    ) using v_queue;
  end loop;
end;
$$;
