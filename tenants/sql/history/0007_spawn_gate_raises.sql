-- The spawn gate as a condition of the spawn statement itself.
--
-- absurd_core.spawning ran "spawn, then gate" as one statement inside an
-- explicit transaction, so that Python could roll the spawn back when the gate
-- said "wait": BEGIN, the statement, COMMIT, three round trips. Measured under
-- gunicorn (bench/api.py), those round trips and the ORM around them were most
-- of a spawn request's cost. Raising instead of returning lets the statement
-- run on its own, in autocommit: a refusal fails the statement, so nothing is
-- spawned and nothing needs rolling back, and a grant commits with the spawn.
--
-- The verdict travels in the error: SQLSTATE AC429, the seconds to wait in
-- DETAIL. Any other error is the limiter's storage failing (or the engine's
-- own error), which the caller tells apart as before (tenants.limits).

create or replace function absurd_control_spawn_gate_or_raise(p_tenant text, p_cost double precision)
  returns double precision
  language plpgsql
as $$
declare
  v_wait double precision := absurd_control_spawn_gate(p_tenant, p_cost);
begin
  if v_wait > 0 then
    raise exception using
      errcode = 'AC429',
      message = format('Tenant %L is over its spawn rate.', p_tenant),
      detail = v_wait::text;
  end if;
  return 0;
end;
$$;
