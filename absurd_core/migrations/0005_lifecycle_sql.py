"""Event log, dead letters, terminal hook and change channel triggers.

The SQL is in absurd_core/sql/0005_lifecycle.sql, commented.
"""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0005_lifecycle.sql").read_text()

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
-- The event trigger body of 0002: runs tables only.
create or replace function absurd_control.on_create_table()
  returns event_trigger language plpgsql
as $$
declare
  v_cmd record;
  v_relname text;
  v_queue text;
begin
  for v_cmd in
    select objid from pg_event_trigger_ddl_commands()
     where command_tag = 'CREATE TABLE' and schema_name = 'absurd'
  loop
    select relname into v_relname from pg_class where oid = v_cmd.objid;
    select queue_name into v_queue from absurd.queues where 'r_' || queue_name = v_relname;
    if v_queue is not null then
      perform absurd_control.install_runs_table(v_queue);
    end if;
  end loop;
end;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0004_lifecycle_tables")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
