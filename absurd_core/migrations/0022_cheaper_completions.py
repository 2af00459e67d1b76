"""Cheaper completions (issue 20, item 4): the lifecycle trigger carries a completed run's
task name and working time in its event-log row, so the chart aggregates' trigger counts
durations with one static statement instead of a dynamic join of the queue's tables per
completion (0.44 ms of our 0.7 ms of SQL per two-step task, bench/trigger_profile.py).

Applies the current absurd_core/sql/lifecycle.sql and throughput.sql; ``SQL_FILES``
records their sha256 (tests/core/test_sql_current_truth.py). The reverse applies the
versions 0012_current_sql and 0019_throughput_charts applied (history/).
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "lifecycle.sql": "33315f0902c589a83c20c111201cb94217e81b8d29b369ea28cdcbdc798f320e",
    "throughput.sql": "19f21a654a2b18b1ebaa161b994cfdde943f730dd0bec831838cfa90af54d4ad",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = "\n".join(
    (SQL_DIR / "history" / name).read_text()
    for name in ("0012_lifecycle.sql", "0019_throughput.sql")
)


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(
                f"{SQL_DIR / name} is not the version 0022_cheaper_completions applies"
            )


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0021_partitioned_queues")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
