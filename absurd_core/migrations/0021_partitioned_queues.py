"""Partitioned queues (issue 21): their partitions listed, and retention by detaching and
dropping old empty ones (absurd_core/sql/partitions.sql, a new current-truth file; no
earlier file changes: install.sql already equips partitioned parents).

``SQL_FILES`` records the sha256 of the file this migration applies;
tests/core/test_sql_current_truth.py fails when it no longer matches.
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "partitions.sql": "93ce4b726c198529923cde46c436c70ed8dbcb314b890186e1385e01e23ea8ed",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = (
    "drop function if exists absurd_control.drop_old_partitions(text, interval);"
    " drop function if exists absurd_control.queue_partitions(text);"
)


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(
                f"{SQL_DIR / name} is not the version 0021_partitioned_queues applies"
            )


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0020_dead_letter_groups")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
