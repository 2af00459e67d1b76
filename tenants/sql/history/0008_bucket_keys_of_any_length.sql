-- Spawn buckets keyed by tenants of any length (issue 14, defect 9).
--
-- A bucket is keyed by the spawning task's tenant, which is the headers.tenant
-- of a task: slugs are short, but a task spawned by raw SQL may carry a tenant
-- of any length, and our own spawns for such a task (an approval's delivery)
-- go through this limiter with it. A btree entry holds at most about 2,700
-- bytes, so the bucket's primary key could not hold such a tenant and the
-- spawn failed. The key is now the tenant itself up to 200 characters (every
-- existing bucket keeps its row) and a digest above that (":" is in no slug,
-- so a digest never reads as a slug).

create or replace function absurd_control_bucket_key(p_tenant text)
  returns text
  language sql
  immutable
as $$
  select case when length(p_tenant) <= 200 then p_tenant
              else 'sha256:' || encode(sha256(convert_to(p_tenant, 'UTF8')), 'hex') end;
$$;

-- As in 0003_spawn_bucket.sql, with the key above in place of the raw tenant.
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
