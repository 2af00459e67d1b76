"""Child workflows, one lock order (issue 17, follow-up): absurd_core/sql/children.sql.

A parent cancelled while one of its children ended could deadlock: the canceller held
the parent's wait row and waited for the child, the child's ender held the child and
waited for the wait row (or for the parent's run, to wake it). Now the ender announces
itself and takes the parent's runs FOR KEY SHARE before anything else of the parent's,
and the cancel cascade never waits for a child whose ender waits for the parent
(``absurd_control.cancel_child``). The SQL file explains the order ("Lock order").

``SQL_FILES`` records the sha256 of the file (tests/core/test_sql_current_truth.py).
The reverse applies the version 0015_children applied (history/0015_children.sql).
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "children.sql": "ad0e4ff953636afaba2638dec8942d3aa9c58621239141f809942f32e0ffe69d",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = (SQL_DIR / "history" / "0015_children.sql").read_text() + (
    "\ndrop function if exists absurd_control.cancel_child(text, uuid);"
    "\ndrop function if exists absurd_control.child_ending_key(uuid);\n"
)


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0017_children_locks applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0016_delayed_starts")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
