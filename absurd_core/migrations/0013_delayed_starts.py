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
    "delayed_starts.sql": "95e398b9ea806d64a122bfa4d9e49819b04203d503eeea17151c1c8d871d3c49",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = "drop function if exists absurd_control.spawn_task_after(text, text, jsonb, jsonb, timestamptz, interval);"


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0013_delayed_starts applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0012_current_sql")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
