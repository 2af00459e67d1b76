-- Delayed starts, current truth. Idempotent; applied by a migration
-- (absurd_core/migrations/0016_delayed_starts.py).
--
-- absurd.spawn_task (absurdctl 0.5.1) always creates the first run available
-- now: it has no option for a later start. We wrap it, we do not copy it: the
-- engine spawns as usual, and when it created the task (not on a repeated
-- idempotency key) and the start time lies ahead of the engine's clock, the
-- first run's available_at moves to that time, in the same statement and so
-- in the same transaction as the spawn.
--
-- The task and its run stay 'pending' (not 'sleeping': no code has run, and
-- the dashboard and API show it as waiting to start, with the start time).
-- absurd.claim_task already takes only runs with available_at <= now, so no
-- worker, ours or another client's, claims it early. The wake-up trigger
-- (wakeups.sql) fires on the insert and on this update of available_at, and
-- runworker's timer for the next known wake-up (worker/runner.py,
-- _next_wakeup_sql: the earliest finite available_at of a pending or sleeping
-- run) brings the claim loop back at that time. absurd.cancel_task cancels it
-- like any pending task, before or after its start time.
--
-- The start is p_run_at, or else p_delay after the spawn by the engine's clock
-- (absurd.current_time(), read after the spawn, so never before enqueue_at):
-- absurd.fake_now moves delayed starts as it moves sleeps. A start at or before
-- now is no delay. Returns what absurd.spawn_task returns.

create or replace function absurd_control.spawn_task_after(
  p_queue_name text,
  p_task_name text,
  p_params jsonb,
  p_options jsonb,
  p_run_at timestamptz,
  p_delay interval default null
)
  returns table (
    task_id uuid,
    run_id uuid,
    attempt integer,
    created boolean
  )
  language plpgsql
as $$
declare
  v_task_id uuid;
  v_run_id uuid;
  v_attempt integer;
  v_created boolean;
  v_now timestamptz;
  v_start timestamptz;
begin
  select s.task_id, s.run_id, s.attempt, s.created
    into v_task_id, v_run_id, v_attempt, v_created
    from absurd.spawn_task(p_queue_name, p_task_name, p_params, p_options) s;

  v_now := absurd.current_time();
  v_start := coalesce(p_run_at, v_now + p_delay);
  if v_created and v_start > v_now and v_start < 'infinity'::timestamptz then
    execute format(
      'update absurd.%I set available_at = $2 where run_id = $1 and state = ''pending''',
      'r_' || p_queue_name
    ) using v_run_id, v_start;
  end if;

  return query select v_task_id, v_run_id, v_attempt, v_created;
end;
$$;
