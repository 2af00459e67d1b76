"""Cheaper completions (issue 20, item 4): the lifecycle trigger counts each finished
transition into the chart aggregates itself (``absurd_control.count_finished``, static
upserts, with the completed run's working time it reads anyway, also logged as ``ran_s``),
and the event log's statement trigger that did it is dropped: it paid a transition table
and a call for every row logged and a dynamic join of the queue's tables for every
completion, 0.5 ms of our 0.7 ms of SQL per two-step task (bench/trigger_profile.py).

Applies the current absurd_core/sql/lifecycle.sql and throughput.sql; ``SQL_FILES``
records their sha256 (tests/core/test_sql_current_truth.py). The reverse applies the
versions 0012_current_sql and 0019_throughput_charts applied (history/).
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "lifecycle.sql": "172db456d7715ff440c38fdd7beeaf74b5d4b61264c6877ca00ecc726e1241ee",
    "throughput.sql": "ad0eadaaf80b2b0f02d40b398df53c77f9732345d3863a523540d9d189c96bbe",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

REVERSE = "\n".join(
    (SQL_DIR / "history" / name).read_text()
    for name in ("0012_lifecycle.sql", "0019_throughput.sql")
) + (
    "\ndrop function if exists absurd_control.count_finished("
    "text, text, text, timestamptz, text, double precision);\n"
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
