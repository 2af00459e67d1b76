-- Spawn-rate token buckets, one row per tenant, refilled lazily.
--
-- absurd_control_take_spawn_tokens() is the whole limiter: one
-- INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING, so concurrent
-- spawns of one tenant, from any number of processes, serialise on the row and
-- can never overdraw it. No row is returned when the bucket holds too few
-- tokens; nothing is written then.

create table if not exists absurd_control_spawn_bucket (
  tenant text primary key,
  tokens double precision not null,
  updated_at timestamptz not null
);

create or replace function absurd_control_take_spawn_tokens(
  p_tenant text, p_rate double precision, p_burst double precision, p_cost double precision
)
  returns double precision  -- tokens left, or null when refused
  language sql
as $$
  insert into absurd_control_spawn_bucket as b (tenant, tokens, updated_at)
  values (p_tenant, p_burst - p_cost, clock_timestamp())
  on conflict (tenant) do update
     set tokens = least(p_burst, b.tokens
                    + p_rate * extract(epoch from clock_timestamp() - b.updated_at)) - p_cost,
         updated_at = clock_timestamp()
   where least(p_burst, b.tokens
           + p_rate * extract(epoch from clock_timestamp() - b.updated_at)) >= p_cost
  returning tokens;
$$;

-- Seconds until p_cost tokens are available (for Retry-After); read-only.
create or replace function absurd_control_spawn_wait(
  p_tenant text, p_rate double precision, p_burst double precision, p_cost double precision
)
  returns double precision
  language sql
  stable
as $$
  select greatest(0, (p_cost - least(p_burst, b.tokens
           + p_rate * extract(epoch from clock_timestamp() - b.updated_at))) / p_rate)
    from absurd_control_spawn_bucket b
   where b.tenant = p_tenant;
$$;

-- The limiter in one round trip: find the tenant's policy (its own, else the
-- platform default; platform tenants are exempt), take the tokens, and say how
-- long to wait when refused. A storage failure inside is caught here (a
-- subtransaction, not a client round trip) and reported as 'error' with the
-- policy's fail-open flag, so the caller's transaction stays usable.
create or replace function absurd_control_spawn_gate(p_tenant text, p_cost double precision)
  returns table (verdict text, retry_after double precision, fail_open boolean)
  language plpgsql
as $$
declare
  v_platform boolean;
  v_rate double precision;
  v_burst double precision;
  v_fail_open boolean := false;
  v_left double precision;
begin
  -- Own policy, else the platform default row, else (that row deleted) the
  -- model's defaults: never "unlimited" by accident.
  select t.is_platform,
         coalesce(own.spawn_rate, def.spawn_rate, 50),
         coalesce(own.spawn_burst, def.spawn_burst, 100),
         coalesce(own.spawn_fail_open, def.spawn_fail_open, false)
    into v_platform, v_rate, v_burst, v_fail_open
    from (select 1) as one
    left join tenants_tenant t on t.slug = p_tenant
    left join tenants_ratelimitpolicy own on own.tenant_id = t.id
    left join tenants_ratelimitpolicy def on def.tenant_id is null;
  if coalesce(v_platform, false) then
    return query select 'exempt'::text, 0::double precision, true;
    return;
  end if;
  begin
    v_left := absurd_control_take_spawn_tokens(p_tenant, v_rate, v_burst, p_cost);
    if v_left is not null then
      return query select 'granted'::text, 0::double precision, v_fail_open;
    else
      return query select 'refused'::text,
        coalesce(absurd_control_spawn_wait(p_tenant, v_rate, v_burst, p_cost), 1 / v_rate),
        v_fail_open;
    end if;
  exception when others then
    raise warning 'absurd_control spawn limiter failed for tenant %: %', p_tenant, sqlerrm;
    return query select 'error'::text, 1::double precision, v_fail_open;
  end;
end;
$$;
