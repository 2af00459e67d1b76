"""The lifecycle feed's bound ignores transactions of other databases on the same server:
absurd_core/sql/feed.sql, a new current-truth file (``absurd_control.feed_horizon()``, used by
absurd_core/listeners.py); SQL_FILES records its sha256 (tests/core/test_sql_current_truth.py)."""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "feed.sql": "5441846b64d2344447569492ffba18586601d1c2c60884a4b03435455a32732c",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = "drop function if exists absurd_control.feed_horizon();"


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0024_feed_horizon applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0023_claim_preload")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
