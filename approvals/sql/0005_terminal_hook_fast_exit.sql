-- Approval links die with their workflow (0001_terminal_hook.sql), now with a
-- fast way out: a task that has no approval request (nearly every task) stops
-- after the one look-up that finds none. Same behaviour otherwise; applied by
-- approvals/migrations/0005_terminal_hook_fast_exit.py.

create or replace function absurd_control.approvals_task_ended(
  p_queue_name text, p_task_id uuid, p_state text, p_tenant text
)
  returns void
  language plpgsql
as $$
declare
  v_reason text := 'the workflow was ' || p_state;
begin
  -- Lock the task's requests first, in the same order as a decision does
  -- (request row, then token rows), so a POST racing the task's end waits
  -- instead of deadlocking.
  perform 1 from public.approvals_approvalrequest
    where queue = p_queue_name and task_id = p_task_id
    order by id
    for update;
  -- Most tasks never asked for an approval: with no request there is nothing to
  -- revoke or cancel, and the two statements below are skipped (every finished
  -- task passes here, bench/trigger_profile.py).
  if not found then
    return;
  end if;

  update public.approvals_approvaltoken k
     set revoked_at = now(), revoked_reason = v_reason
    from public.approvals_approvalrequest r
   where k.request_id = r.id
     and r.queue = p_queue_name and r.task_id = p_task_id
     and k.used_at is null and k.revoked_at is null;

  with ended as (
    update public.approvals_approvalrequest
       set state = 'cancelled', decided_at = now(), decided_by = v_reason
     where queue = p_queue_name and task_id = p_task_id and state = 'pending'
    returning id
  )
  insert into public.approvals_approvalevent (request_id, kind, actor, detail, created_at)
  select id, 'cancelled', 'workflow', jsonb_build_object('reason', v_reason), now() from ended;
end;
$$;
