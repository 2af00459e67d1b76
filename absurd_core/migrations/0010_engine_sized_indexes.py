"""Indexes that accept whatever the engine accepts, and equipment that touches
only the tables of real queues (issue 14, defects 9 and 10).

- The per-queue task-name and tenant indexes become indexes of a 256-character
  prefix, rebuilt on every existing queue; a stricter queue_table() keeps the
  event trigger and the installers off tables that are not a queue's; the
  concurrency limiter's tenant indexes and lookups get the same prefix. The SQL
  is absurd_core/sql/history/0010_engine_sized_indexes.sql, commented.
- The event log's and dead letters' tenant indexes (filled by the triggers from
  ``headers.tenant``) become prefix indexes too, and "tenant is null, newest
  first" gets its own small partial index.
"""

from pathlib import Path

import django.db.models.functions.text
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "history"
SQL = (SQL_DIR / "0010_engine_sized_indexes.sql").read_text()

# Back to the full-value indexes and name-only queue_table: drop ours, re-run the
# earlier files (idempotent, in order, each ending with install_all_queues), then
# drop the helper that only 0010 uses.
REVERSE = """
do $$
declare
  v_queue text;
begin
  for v_queue in select queue_name from absurd.queues loop
    execute format('drop index if exists absurd.%I', 'ac_tenant_pfx_' || left(md5(v_queue), 20));
    execute format('drop index if exists absurd.%I', 'ac_name_pfx_' || left(md5(v_queue), 20));
  end loop;
end;
$$;
drop index if exists absurd_control.running_slot_tenant_pfx;
drop index if exists absurd_control.parked_run_next_pfx;
"""
for name in (
    "0002_queue_setup.sql",
    "0005_lifecycle.sql",
    "0006_tenant_concurrency.sql",
    "0009_dashboard_indexes.sql",
):
    REVERSE += (SQL_DIR / name).read_text()
REVERSE += "\ndrop function if exists absurd_control.engine_columns(text);\n"


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0009_dashboard_indexes")]

    operations = [
        migrations.RunSQL(SQL, REVERSE),
        migrations.RemoveIndex(model_name="deadletter", name="dead_letter_tenant_state"),
        migrations.RemoveIndex(model_name="taskevent", name="task_event_tenant_recent"),
        migrations.AddIndex(
            model_name="deadletter",
            index=models.Index(
                django.db.models.functions.text.Left("tenant", 256),
                models.F("state"),
                models.OrderBy(models.F("id"), descending=True),
                name="dead_letter_tenant_state",
            ),
        ),
        migrations.AddIndex(
            model_name="taskevent",
            index=models.Index(
                django.db.models.functions.text.Left("tenant", 256),
                models.OrderBy(models.F("id"), descending=True),
                name="task_event_tenant_recent",
            ),
        ),
        migrations.AddIndex(
            model_name="taskevent",
            index=models.Index(
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("tenant__isnull", True)),
                name="task_event_untenanted",
            ),
        ),
    ]
