"""Failing runs of tasks other clients spawned without max_attempts or a retry strategy,
with the registered task's defaults. The SQL is absurd_core/sql/history/0011_mixed_fleets.sql."""

from pathlib import Path

from django.db import migrations

SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0011_mixed_fleets.sql"
).read_text()
REVERSE = "drop function if exists absurd_control.fail_run_with_defaults(text, uuid, jsonb, integer, jsonb);"


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0010_engine_sized_indexes")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
