-- Schedule wake-ups, current truth. Idempotent; applied by a migration
-- (absurd_core/migrations/0013_schedules.py).
--
-- One NOTIFY channel, absurd_control_schedules, listened to by every runworker's
-- schedule ticker (absurd_core/worker/schedules.py). A schedule created, resumed or
-- changed so that it is due at another time wakes the tickers, which then sleep until
-- the new earliest due_at: no ticker polls. The payload is empty: the tickers re-read
-- the table. Firing itself (due_at moving on) notifies nobody: the ticker that fired
-- knows the next due time already. PostgreSQL folds identical notifications within
-- one transaction, so a bulk change sends one NOTIFY.
create or replace function absurd_control.notify_schedule_changed()
  returns trigger
  language plpgsql
as $$
begin
  if new.enabled and new.due_at is not null
     and (tg_op = 'INSERT'
          or old.enabled is distinct from new.enabled
          or old.due_at is distinct from new.due_at)
     -- a tick advancing due_at past now is no news; an earlier or immediate due time is.
     and (tg_op = 'INSERT' or new.due_at <= coalesce(old.due_at, new.due_at)
          or not old.enabled) then
    perform pg_notify('absurd_control_schedules', '');
  end if;
  return null;
end;
$$;

drop trigger if exists absurd_control_schedule_changed on public.absurd_control_schedule;
create trigger absurd_control_schedule_changed
  after insert or update on public.absurd_control_schedule
  for each row execute function absurd_control.notify_schedule_changed();
