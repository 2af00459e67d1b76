"""Event log, dead letters, terminal hook and change channel triggers.

The SQL is in absurd_core/sql/0005_lifecycle.sql, commented.
"""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "0005_lifecycle.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0004_lifecycle_tables")]
    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
