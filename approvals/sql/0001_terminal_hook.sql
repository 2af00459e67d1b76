-- Approval links die with their workflow. Registered as an Absurd Control
-- terminal-state hook (absurd_core/sql/lifecycle.sql), this runs in the
-- transaction that moves a task to completed, failed or cancelled, by any
-- path: our worker, an operator, absurdctl, a raw absurd.cancel_task in psql,
-- claim_task failing an expired lease. Every unused link of the task's
-- requests is revoked, and a request still open is cancelled, with an audit
-- row saying why.
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

insert into absurd_control.terminal_hook (name, function_name)
values ('approvals', 'absurd_control.approvals_task_ended')
on conflict (name) do update set function_name = excluded.function_name;
