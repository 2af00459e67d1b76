-- The worker's claim loads each admitted run's checkpoints in the claim
-- statement (absurd_core/worker/runner.py, claim_sql), through the engine's own
-- absurd.get_task_checkpoint_states, so a task's code starts without another
-- round trip. Current truth; applied by
-- absurd_core/migrations/0023_claim_preload.py.
--
-- Most claimed runs are a task's first, and a task that never ran a step has no
-- checkpoint at all; for those the engine function's two dynamic statements
-- (the run's attempt, then its checkpoints joined with their owner runs) cost
-- 0.18 ms per task to return nothing (bench/hot_path.py, issue 20). This asks
-- first, with one primary-key probe. It only says whether the task has any
-- checkpoint row: when it has, the engine function still decides which ones
-- count, so what the task sees is exactly upstream's.

-- Whether the task has any checkpoint row in p_queue_name (committed or not,
-- whichever run wrote it). False for a queue without tables.
create or replace function absurd_control.has_checkpoints(p_queue_name text, p_task_id uuid)
  returns boolean
  language plpgsql
  stable
as $$
declare
  v_found boolean;
begin
  execute format('select exists (select 1 from absurd.%I where task_id = $1)',
                 'c_' || p_queue_name)
    into v_found using p_task_id;
  return v_found;
end;
$$;
