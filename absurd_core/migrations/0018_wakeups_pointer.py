"""absurd_core/sql/wakeups.sql again, with its comment pointing at the worker's wake-up
listener where it now lives (absurd_core/worker/wakeups.py, was worker/listener.py).

No function changes: the file is create or replace, so applying it is harmless, and
the checksum below records the version a database has (tests/core/test_sql_current_truth.py).
The reverse applies the version 0012_current_sql applied (history/0012_wakeups.sql).
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "wakeups.sql": "cc1fa2dfa80bcf228af789cb479fd67796f27838dbde0a51afbbfa82f02c78b8",
}


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0018_wakeups_pointer applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0017_children_locks")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(
            (SQL_DIR / "wakeups.sql").read_text(),
            (SQL_DIR / "history" / "0012_wakeups.sql").read_text(),
        ),
    ]
