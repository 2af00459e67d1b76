-- Absurd Control 0009: indexes behind the operator dashboard at a million tasks
-- (docs/dashboard-performance.md has the measurements). Idempotent, like every
-- file here.

-- == The overview's throughput sparklines ==================================
--
-- Completed and failed tasks per minute over the last hour, from the event log.
-- Without an index that is a scan of the whole log (117 ms at a million rows,
-- every 2 s per open overview). Partial: only 'completed' and 'failed' rows
-- enter it, one of the three or four rows a task logs in its life, so the
-- event log's hot insert path pays for it on those rows only.

create index if not exists task_event_finished
  on public.absurd_control_task_event (created_at)
  where kind in ('completed', 'failed');

-- == Runs filtered by task name ============================================
--
-- The runs list filters by task name newest first. Without an index, a name
-- that a queue has few or none of makes that queue's part of the page walk its
-- whole primary key (90 ms at a million tasks when one queue of three has the
-- name). A (task_name, task_id desc) index answers "this name, newest first,
-- below this cursor" directly, in every queue.

create or replace function absurd_control.install_task_name_index(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_index text := 'ac_name_' || left(md5(p_queue_name), 20);
begin
  -- Checked first: even "create index if not exists" locks the table.
  if v_tasks is null or to_regclass(format('absurd.%I', v_index)) is not null then
    return false;
  end if;
  execute format(
    'create index if not exists %I on %s (task_name, task_id desc)', v_index, v_tasks
  );
  return true;
end;
$$;

-- 0005's install_tasks_table, plus the task-name index.
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

select absurd_control.install_all_queues();
