-- The overview chart's aggregates, current truth. Idempotent; applied by a
-- migration (absurd_core/migrations/0022_cheaper_completions.py; the first
-- version, history/0019_throughput.sql, by 0019_throughput_charts.py).
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

-- Count one finished transition into the aggregates. Called by the lifecycle
-- trigger (absurd_control.on_task_update, lifecycle.sql) for the kinds the
-- chart shows, in the transaction that made the transition, at the time it
-- logs it: 'completed' (with the task's name and the run's working time in
-- seconds since its last claim, so a sleep is not counted as work; null when
-- the run was never claimed: no duration), 'failed', and 'retry_scheduled' or
-- 'retried' (counted as retried).
--
-- Each call adds to its writer's own rows (see above). Static statements,
-- planned once per connection: an earlier version counted in a statement
-- trigger on the event log, which paid a transition table and a call for
-- every row logged (spawns and claims too) and joined the queue's tables in a
-- dynamic statement for every completion; 0.5 ms of our 0.7 ms of SQL per
-- two-step task (bench/trigger_profile.py, issue 20). Rows written into the
-- event log by anything else (a bulk loader) are counted by
-- rebuild_throughput() below.
create or replace function absurd_control.count_finished(
  p_queue_name text, p_tenant text, p_kind text, p_at timestamptz,
  p_task_name text, p_ran_s double precision
)
  returns void
  language plpgsql
as $$
begin
  insert into public.absurd_control_throughput as a
    (span, bucket, queue, tenant, writer, completed, failed, retried)
  select s.span, absurd_control.throughput_bucket(s.span, p_at), p_queue_name,
         coalesce(left(p_tenant, 256), ''), pg_backend_pid(),
         (p_kind = 'completed')::int, (p_kind = 'failed')::int,
         (p_kind in ('retry_scheduled', 'retried'))::int
    from (values (1::smallint), (60::smallint)) s(span)
  on conflict (span, bucket, queue, tenant, writer) do update
     set completed = a.completed + excluded.completed,
         failed = a.failed + excluded.failed,
         retried = a.retried + excluded.retried;
  if p_kind = 'completed' and p_ran_s is not null then
    insert into public.absurd_control_run_duration as d
      (span, bucket, queue, tenant, task_name, bin, writer, runs)
    select s.span, absurd_control.throughput_bucket(s.span, p_at), p_queue_name,
           coalesce(left(p_tenant, 256), ''), left(p_task_name, 256),
           absurd_control.duration_bin(p_ran_s), pg_backend_pid(), 1
      from (values (1::smallint), (60::smallint)) s(span)
    on conflict (span, bucket, queue, tenant, task_name, bin, writer) do update
       set runs = d.runs + excluded.runs;
  end if;
end;
$$;

-- The statement trigger of the earlier version, replaced by the call above.
drop trigger if exists absurd_control_throughput on public.absurd_control_task_event;
drop function if exists absurd_control.on_task_event_insert();

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

-- Rebuild both aggregates from the event log, set-based: what count_finished
-- would have counted for every finished event still in the log. Used once by
-- the migration that adds them (history logged before it), by bulk loaders
-- that write the event log directly (bench/dashboard_load.py), and by tests.
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
