"""The claim skips the checkpoint load of a task that has no checkpoint (issue 20):
absurd_core/sql/claim_preload.sql, a new current-truth file; SQL_FILES records its
sha256 (tests/core/test_sql_current_truth.py)."""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "claim_preload.sql": "464e0ca276c4b23f714ecbc4b99d6ab906b286943f5c7682ab3201197e6c3010",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = "drop function if exists absurd_control.has_checkpoints(text, uuid);"


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0023_claim_preload applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0022_cheaper_completions")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
