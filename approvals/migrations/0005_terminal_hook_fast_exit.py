"""The approvals terminal hook returns at once for a task without approval requests
(approvals/sql/0005_terminal_hook_fast_exit.sql; issue 20, item 4). The reverse applies
0001's definition again (create or replace, idempotent)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("approvals", "0004_metrics_indexes")]

    operations = [
        migrations.RunSQL(
            (SQL_DIR / "0005_terminal_hook_fast_exit.sql").read_text(),
            (SQL_DIR / "0001_terminal_hook.sql").read_text(),
        )
    ]
