"""Spawn buckets keyed by tenants of any length. See tenants/sql/history/0008_bucket_keys_of_any_length.sql."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "history"
SQL = (SQL_DIR / "0008_bucket_keys_of_any_length.sql").read_text()
# Back to 0003's functions (the table is unchanged), then drop the key function.
REVERSE = (
    "\n".join(
        part
        for part in (SQL_DIR / "0003_spawn_bucket.sql").read_text().split("\n\n")
        if "function absurd_control_take_spawn_tokens" in part
        or "function absurd_control_spawn_wait" in part
    )
    + "\ndrop function if exists absurd_control_bucket_key(text);"
)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0007_spawn_gate_raises")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
