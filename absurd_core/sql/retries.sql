-- Failing runs of tasks spawned without our defaults, current truth.
-- Idempotent; applied by a migration (absurd_core/migrations/0012_current_sql.py).
-- History: 0011 in history/.
--
-- A task spawned by another client (absurdctl spawn-task without --max-attempts,
-- another SDK, a psql session) may have no max_attempts and no retry strategy.
-- Absurd then retries it at once and for ever: a failing one ran 786 attempts
-- in 4 s. runworker knows the registered task's defaults and applies them when
-- it fails such a run, through the engine's own absurd.fail_run:
--
-- * no retry strategy on the task: the retry time passed to fail_run (its 4th
--   argument) comes from p_retry_strategy, the registered strategy (or a
--   minimum backoff the worker chose), computed by the engine's own
--   absurd.retry_delay_seconds;
-- * no max_attempts on the task: once the attempt reaches p_max_attempts (the
--   registered limit), the limit is written on the task first, so that fail_run
--   itself ends the task as failed, and everything that follows a failure (the
--   event log, the dead letter, terminal hooks) happens as for any other task.
--
-- The task's own values always win: a column that is set is never touched.
-- Callers pass null for what they have no default for. Raises what fail_run
-- raises (AB001 cancelled, AB002 already failed).

create or replace function absurd_control.fail_run_with_defaults(
  p_queue_name text,
  p_run_id uuid,
  p_reason jsonb,
  p_max_attempts integer,
  p_retry_strategy jsonb
)
  returns void
  language plpgsql
as $$
declare
  v_task_id uuid;
  v_attempt integer;
  v_max_attempts integer;
  v_strategy jsonb;
  v_retry_at timestamptz;
begin
  execute format(
    'select r.task_id, r.attempt, t.max_attempts, t.retry_strategy
       from absurd.%I r join absurd.%I t using (task_id)
      where r.run_id = $1',
    'r_' || p_queue_name, 't_' || p_queue_name
  )
  into v_task_id, v_attempt, v_max_attempts, v_strategy
  using p_run_id;

  if v_task_id is not null and v_max_attempts is null and p_max_attempts is not null
     and v_attempt >= p_max_attempts then
    execute format(
      'update absurd.%I set max_attempts = $2 where task_id = $1 and max_attempts is null',
      't_' || p_queue_name
    ) using v_task_id, p_max_attempts;
  end if;

  if v_task_id is not null and v_strategy is null and p_retry_strategy is not null then
    v_retry_at := absurd.current_time()
      + absurd.retry_delay_seconds(p_retry_strategy, v_attempt) * interval '1 second';
  end if;

  perform absurd.fail_run(p_queue_name, p_run_id, p_reason, v_retry_at);
end;
$$;
