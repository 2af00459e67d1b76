-- The spawn-rate limiter, current truth: one token bucket per tenant, refilled
-- lazily, checked inside the spawn statement itself (docs/tenants.md, "Spawn
-- rate limits"). Idempotent; applied by a migration
-- (tenants/migrations/0009_current_sql.py). History: tenants/sql/history/ 0003,
-- 0006, 0007 and 0008.
--
-- The spawn statement (absurd_core.spawning, tenants.limits) is
--   select absurd_control_spawn_gate_or_raise(tenant, cost), absurd.spawn_task(...)
-- in autocommit: a refusal fails the statement, so nothing is spawned and
-- nothing needs rolling back, and a grant commits with the spawn. These objects
-- live in schema public (absurd_control_*), as they always have.

-- == The buckets ==========================================================
--
-- One row per tenant key. UNLOGGED: its updates write no WAL (about 3% of a
-- spawn). Bucket state is a few seconds of rate history, not data: after a
-- crash, or on a promoted standby, buckets start full again, which is what a
-- new tenant gets anyway. (The login/API-key failure throttle shares the table
-- and resets the same way.) rate and burst cache the policy that applies (see
-- absurd_control_spawn_gate); null means "look it up again".
create unlogged table if not exists absurd_control_spawn_bucket (
  tenant text primary key,
  tokens double precision not null,
  updated_at timestamptz not null,
  rate double precision,
  burst double precision
);

-- The bucket key of a tenant. A task spawned by raw SQL may carry a tenant of
-- any length, and our own spawns for such a task (an approval's delivery) go
-- through this limiter with it; a btree entry holds at most about 2,700 bytes.
-- The key is the tenant itself up to 200 characters and a digest above that
-- (":" is in no slug, so a digest never reads as a slug).
create or replace function absurd_control_bucket_key(p_tenant text)
  returns text
  language sql
  immutable
as $$
  select case when length(p_tenant) <= 200 then p_tenant
              else 'sha256:' || encode(sha256(convert_to(p_tenant, 'UTF8')), 'hex') end;
$$;

-- Take p_cost tokens: one INSERT ... ON CONFLICT DO UPDATE ... WHERE ...
-- RETURNING, so concurrent spawns of one tenant, from any number of processes,
-- serialise on the row and can never overdraw it. No row is returned when the
-- bucket holds too few tokens; nothing is written then.
create or replace function absurd_control_take_spawn_tokens(
  p_tenant text, p_rate double precision, p_burst double precision, p_cost double precision
)
  returns double precision  -- tokens left, or null when refused
  language sql
as $$
  insert into absurd_control_spawn_bucket as b (tenant, tokens, updated_at)
  values (absurd_control_bucket_key(p_tenant), p_burst - p_cost, clock_timestamp())
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
   where b.tenant = absurd_control_bucket_key(p_tenant);
$$;

-- == The gate =============================================================
--
-- Measured on a spawn (bench/rate_limit.py): a gate with an exception block (a
-- subtransaction per call) and a three-join policy lookup per call cost about
-- 15%. Neither is on the hot path: a storage failure fails the spawn statement
-- and the callers handle it in Python, off the hot path (they retry the spawn
-- without the gate and let the policy's fail-open flag decide,
-- tenants.limits.limiter_failed); and the bucket row caches the tenant's policy,
-- so a granted spawn is one UPDATE of one row, found by its primary key.

-- The full path: look the policy up (its own, else the platform default row,
-- else the model's defaults: never "unlimited" by accident), take the tokens,
-- and store the policy it used on the bucket row. Returns 0 when the spawn may
-- go ahead (granted, or exempt), else the seconds until p_cost tokens are there.
create or replace function absurd_control_spawn_gate_full(p_tenant text, p_cost double precision)
  returns double precision
  language plpgsql
as $$
declare
  v_platform boolean;
  v_rate double precision;
  v_burst double precision;
begin
  select coalesce(t.is_platform, false),
         coalesce(own.spawn_rate, def.spawn_rate, 50),
         coalesce(own.spawn_burst, def.spawn_burst, 100)
    into v_platform, v_rate, v_burst
    from (select 1) as one
    left join public.tenants_tenant t on t.slug = p_tenant
    left join public.tenants_ratelimitpolicy own on own.tenant_id = t.id
    left join public.tenants_ratelimitpolicy def on def.tenant_id is null;
  if v_platform then
    return 0;  -- platform tenants are exempt
  end if;
  if absurd_control_take_spawn_tokens(p_tenant, v_rate, v_burst, p_cost) is not null then
    update absurd_control_spawn_bucket b
       set rate = v_rate, burst = v_burst
     where b.tenant = p_tenant;
    return 0;
  end if;
  return greatest(
    coalesce(absurd_control_spawn_wait(p_tenant, v_rate, v_burst, p_cost), 1 / v_rate), 0.001
  );
end;
$$;

-- The gate: 0 when the spawn may go ahead, else the seconds to wait. The
-- one-row UPDATE when the bucket knows its policy and holds the tokens;
-- otherwise the full path. A scalar plpgsql function: plpgsql keeps its plans
-- for the session, and a scalar needs no set-returning machinery (measured:
-- 95% of a bare spawn's throughput at the SQL level, against 90% for a
-- table-returning version).
create or replace function absurd_control_spawn_gate(p_tenant text, p_cost double precision)
  returns double precision
  language plpgsql
as $$
begin
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
  return absurd_control_spawn_gate_full(p_tenant, p_cost);
end;
$$;

-- The gate as a condition of the spawn statement: raises instead of returning
-- the wait, so that a spawn and its gate are one autocommit statement (measured
-- under gunicorn, bench/api.py: BEGIN, statement, COMMIT were most of a spawn
-- request's cost). The verdict travels in the error: SQLSTATE AC429, the
-- seconds to wait in DETAIL. Any other error is the limiter's storage failing
-- (or the engine's own error), which the caller tells apart (tenants.limits).
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

-- == Forgetting cached policies ===========================================
--
-- Triggers on the policy and tenant tables clear the cached rate whenever the
-- policy that applies may have changed; the next spawn then takes the full
-- path, which looks the policy up and stores it again. Exempt (platform)
-- tenants and refusals always take the full path.
create or replace function absurd_control_spawn_policy_changed()
  returns trigger
  language plpgsql
as $$
begin
  if tg_table_name = 'tenants_ratelimitpolicy' then
    if (tg_op <> 'INSERT' and old.tenant_id is null) or (tg_op <> 'DELETE' and new.tenant_id is null) then
      -- The platform default changed: it may apply to any tenant.
      update absurd_control_spawn_bucket set rate = null where rate is not null;
    else
      update absurd_control_spawn_bucket b set rate = null
        from public.tenants_tenant t
       where b.tenant = t.slug
         and t.id in (case when tg_op <> 'INSERT' then old.tenant_id end,
                      case when tg_op <> 'DELETE' then new.tenant_id end);
    end if;
  else  -- tenants_tenant: a renamed, re-classified or deleted tenant
    update absurd_control_spawn_bucket set rate = null
     where tenant in (case when tg_op <> 'INSERT' then old.slug end,
                      case when tg_op <> 'DELETE' then new.slug end);
  end if;
  return null;
end;
$$;

drop trigger if exists absurd_control_spawn_policy_changed on public.tenants_ratelimitpolicy;
create trigger absurd_control_spawn_policy_changed
  after insert or update or delete on public.tenants_ratelimitpolicy
  for each row execute function absurd_control_spawn_policy_changed();

drop trigger if exists absurd_control_spawn_policy_changed on public.tenants_tenant;
create trigger absurd_control_spawn_policy_changed
  after insert or update or delete on public.tenants_tenant
  for each row execute function absurd_control_spawn_policy_changed();

-- TRUNCATE fires no row triggers (test suites and some restores use it).
create or replace function absurd_control_spawn_policies_truncated()
  returns trigger
  language plpgsql
as $$
begin
  update absurd_control_spawn_bucket set rate = null where rate is not null;
  return null;
end;
$$;

drop trigger if exists absurd_control_spawn_policies_truncated on public.tenants_ratelimitpolicy;
create trigger absurd_control_spawn_policies_truncated
  after truncate on public.tenants_ratelimitpolicy
  for each statement execute function absurd_control_spawn_policies_truncated();

drop trigger if exists absurd_control_spawn_policies_truncated on public.tenants_tenant;
create trigger absurd_control_spawn_policies_truncated
  after truncate on public.tenants_tenant
  for each statement execute function absurd_control_spawn_policies_truncated();
