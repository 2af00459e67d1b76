-- The index behind "tasks of tenant T in state S, newest first" (tenant-scoped
-- dashboards and API lists). Task ids are UUIDv7, so task_id order is creation
-- order. Added to the per-queue installer, so every queue gets it, however made.

create or replace function absurd_control.install_tenant_index(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_index text := 'ac_tenant_' || left(md5(p_queue_name), 20);
begin
  -- Checked first: even "create index if not exists" locks the table.
  if v_tasks is null or to_regclass(format('absurd.%I', v_index)) is not null then
    return false;
  end if;
  execute format(
    'create index if not exists %I on %s ((headers->>''tenant''), state, task_id desc)',
    v_index, v_tasks
  );
  return true;
end;
$$;

create or replace function absurd_control.install_tasks_table(p_queue_name text)
  returns boolean
  language plpgsql
as $$
declare
  v_tasks regclass := absurd_control.queue_table('t_', p_queue_name);
  v_changed boolean := absurd_control.install_tenant_index(p_queue_name);
begin
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
