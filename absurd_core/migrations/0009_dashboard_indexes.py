"""Indexes behind the dashboard at a million tasks: the throughput sparklines'
partial index on the event log, and a per-queue (task_name, task_id) index for
the runs list's task filter. The SQL is absurd_core/sql/history/0009_dashboard_indexes.sql."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "history"
SQL = (SQL_DIR / "0009_dashboard_indexes.sql").read_text()

REVERSE = """
drop index if exists task_event_finished;
do $$
declare
  v_queue text;
begin
  for v_queue in select queue_name from absurd.queues loop
    execute format('drop index if exists absurd.%I', 'ac_name_' || left(md5(v_queue), 20));
  end loop;
end;
$$;
"""
# 0005's install_tasks_table again (idempotent), then the helper it no longer calls.
REVERSE += (SQL_DIR / "0005_lifecycle.sql").read_text()
REVERSE += "\ndrop function if exists absurd_control.install_task_name_index(text);\n"


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0008_operator_action")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
