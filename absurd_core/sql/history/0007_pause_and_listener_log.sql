-- Absurd Control 0007: paused queues, and the event log as a feed for plugin
-- lifecycle listeners. Idempotent, like every file here.

-- == Paused queues ========================================================
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

create or replace function absurd_control.queue_paused(p_queue_name text)
  returns boolean
  language sql
  stable
as $$
  select exists (select 1 from absurd_control.queue_pause where queue_name = p_queue_name)
$$;

-- Resuming wakes idle workers at once (the channel their listener already
-- hears) instead of at their next poll.
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

-- == The event log as a listener feed =====================================
--
-- Plugin lifecycle listeners read the event log in order and remember where
-- they stopped (absurd_core/listeners.py). Ordering by id alone would lose
-- rows: ids are taken at insert, so a transaction that inserted id 10 can
-- commit after another's id 11 has been read and the cursor moved past 10.
-- Each row therefore records its writing transaction, and readers take only
-- rows of transactions older than every transaction still running
-- (pg_snapshot_xmin of the current snapshot), in (txid, id) order. That set
-- only ever grows at its end, so a cursor over it never skips a row.

alter table public.absurd_control_task_event
  add column if not exists txid xid8 not null default pg_current_xact_id();

create index if not exists task_event_txid
  on public.absurd_control_task_event (txid, id);
