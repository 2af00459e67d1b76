"""Delayed starts (issue 18): ``absurd_control.spawn_task_after``, absurd.spawn_task with
the first run's start time moved ahead (absurd_core/sql/delayed_starts.sql, a new
current-truth file; no earlier file changes).

``SQL_FILES`` records the sha256 of the file this migration applies;
tests/core/test_sql_current_truth.py fails when it no longer matches.
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "delayed_starts.sql": "6024570880e199d8e4d6031be6c3461a56c978aac929825c193925e9cf0354b1",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = "drop function if exists absurd_control.spawn_task_after(text, text, jsonb, jsonb, timestamptz, interval);"


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0016_delayed_starts applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0015_children")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
