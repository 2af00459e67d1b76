-- Paused queues, current truth. Idempotent; applied by a migration
-- (absurd_core/migrations/0012_current_sql.py). History: 0007 in history/.
--
-- A paused queue keeps accepting spawns, events and cancellations; only our
-- workers stop claiming from it. The worker's claim statement gates
-- absurd.claim_task on "not absurd_control.queue_paused(queue)": PostgreSQL
-- evaluates that uncorrelated condition once, before the claim (a one-time
-- filter), so a paused queue's claim_task is never called and no lease is
-- taken. absurdctl or a foreign worker can still claim: pause is ours.

create table if not exists absurd_control.queue_pause (
  queue_name text primary key,
  paused_at timestamptz not null default now(),
  -- "user:ann" or "key:ci": who paused it, for the dashboard and the API.
  paused_by text not null
);

-- Whether our workers may claim from the queue (the claim statement's gate).
create or replace function absurd_control.queue_paused(p_queue_name text)
  returns boolean
  language sql
  stable
as $$
  select exists (select 1 from absurd_control.queue_pause where queue_name = p_queue_name)
$$;

-- Resuming wakes idle workers at once (the channel their listener already
-- hears, wakeups.sql) instead of at their next poll.
create or replace function absurd_control.on_queue_resumed()
  returns trigger
  language plpgsql
as $$
begin
  perform pg_notify('absurd_control_wake', old.queue_name);
  return old;
end;
$$;

drop trigger if exists absurd_control_queue_resumed on absurd_control.queue_pause;
create trigger absurd_control_queue_resumed
  after delete on absurd_control.queue_pause
  for each row execute function absurd_control.on_queue_resumed();

-- A dropped queue is not paused any more: a new queue of the same name starts
-- unpaused. (No NOTIFY reaches anyone then; the trigger above is harmless.)
create or replace function absurd_control.on_queue_dropped_unpause()
  returns trigger
  language plpgsql
as $$
begin
  delete from absurd_control.queue_pause where queue_name = old.queue_name;
  return old;
end;
$$;

drop trigger if exists absurd_control_queue_dropped_unpause on absurd.queues;
create trigger absurd_control_queue_dropped_unpause
  after delete on absurd.queues
  for each row execute function absurd_control.on_queue_dropped_unpause();
