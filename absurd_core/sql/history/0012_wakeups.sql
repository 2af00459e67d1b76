-- Worker wake-ups, current truth. Idempotent; applied by a migration
-- (absurd_core/migrations/0012_current_sql.py). History: 0002 in history/.
--
-- One NOTIFY channel, shared with the worker (absurd_core/worker/listener.py):
-- absurd_control_wake, whose payload is the queue name; sent when a run becomes
-- claimable now or gets a new finite wake-up time, and when a paused queue is
-- resumed (pause.sql). install.sql puts the trigger on every runs table.

-- A run became claimable (now or at a known time): wake the workers of that queue.
--
-- Fires after a spawn (insert), a retry (insert of the next run), an event
-- delivered to a waiter, a sleep (schedule_run) and a released lease
-- (schedule_run to now). A wait without a timeout has available_at = infinity
-- and needs no wake-up. PostgreSQL folds identical notifications within one
-- transaction, so a batch of spawns in one transaction sends one NOTIFY.
create or replace function absurd_control.notify_run_available()
  returns trigger
  language plpgsql
as $$
begin
  if new.state in ('pending', 'sleeping')
     and new.available_at < 'infinity'::timestamptz
     and (tg_op = 'INSERT'
          or old.state is distinct from new.state
          or old.available_at is distinct from new.available_at) then
    perform pg_notify('absurd_control_wake', tg_argv[0]);
  end if;
  return null;
end;
$$;
