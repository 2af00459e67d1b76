"""Event log, dead letters, terminal hook and change channel triggers.

The SQL is in absurd_core/sql/history/0005_lifecycle.sql, commented.
"""

from pathlib import Path

from django.db import migrations

SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0005_lifecycle.sql"
).read_text()

# Dropping the trigger functions with CASCADE drops every per-queue trigger that
# uses them; the installer goes back to the runs-only version of 0002.
REVERSE = """
drop trigger if exists absurd_control_queue_dropped on absurd.queues;
drop function if exists absurd_control.on_task_insert() cascade;
drop function if exists absurd_control.on_task_update() cascade;
drop function if exists absurd_control.on_task_delete() cascade;
drop function if exists absurd_control.on_event_emitted() cascade;
drop function if exists absurd_control.on_event_delete() cascade;
drop function if exists absurd_control.on_queue_dropped() cascade;
drop table if exists absurd_control.terminal_hook;
create or replace function absurd_control.install_queue(p_queue_name text)
  returns boolean language plpgsql
as $$ begin return absurd_control.install_runs_table(p_queue_name); end; $$;
-- The runs-only table installer of 0002 (the event trigger calls it).
create or replace function absurd_control.install_table(p_prefix text, p_queue_name text)
  returns boolean language plpgsql
as $$
begin
  if p_prefix = 'r_' then return absurd_control.install_runs_table(p_queue_name); end if;
  return false;
end;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0004_lifecycle_tables")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
