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
  v_wait double precision;
begin
  -- The fast path of absurd_control_spawn_gate (0006), inline: one plpgsql call
  -- per spawn, not two.
  update absurd_control_spawn_bucket b
     set tokens = least(b.burst, b.tokens
                    + b.rate * extract(epoch from clock_timestamp() - b.updated_at)) - p_cost,
         updated_at = clock_timestamp()
   where b.tenant = p_tenant
     and b.rate is not null
     and least(b.burst, b.tokens
           + b.rate * extract(epoch from clock_timestamp() - b.updated_at)) >= p_cost;
  if found then
    return 0;
  end if;
  v_wait := absurd_control_spawn_gate_full(p_tenant, p_cost);
  if v_wait > 0 then
    raise exception using
      errcode = 'AC429',
      message = format('Tenant %L is over its spawn rate.', p_tenant),
      detail = v_wait::text;
  end if;
  return 0;
end;
$$;
