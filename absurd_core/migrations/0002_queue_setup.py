"""Per-queue SQL (worker wake-ups, the live-runs claim index) and its installer.

The SQL is in absurd_core/sql/history/0002_queue_setup.sql, commented; this migration
only runs it. Later changes go into new numbered files, never into this one.
"""

from pathlib import Path

from django.db import migrations

SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0002_queue_setup.sql"
).read_text()

REVERSE = """
drop event trigger if exists absurd_control_create_table;
drop schema if exists absurd_control cascade;
"""


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0001_absurd_schema")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
