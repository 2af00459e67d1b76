"""A spawn gate that raises (SQLSTATE AC429) instead of returning the wait, so that
a spawn and its gate are one autocommit statement. See tenants/sql/history/0007_spawn_gate_raises.sql."""

from pathlib import Path

from django.db import migrations

SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0007_spawn_gate_raises.sql"
).read_text()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0006_spawn_gate_without_subtransaction")]

    operations = [
        migrations.RunSQL(
            SQL,
            "drop function if exists absurd_control_spawn_gate_or_raise(text, double precision);",
        )
    ]
