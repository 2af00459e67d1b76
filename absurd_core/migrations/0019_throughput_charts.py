"""The overview chart's aggregates (issue 19, item 5): finished tasks per minute and per
hour, and a histogram of completed runs' durations, per queue, tenant (and task name).

Creates the two tables (absurd_core.models.ThroughputBucket, RunDurationBucket), applies
absurd_core/sql/throughput.sql (the event log's statement trigger that fills them,
set-based; the checksum below records the version, tests/core/test_sql_current_truth.py),
and fills them once from the event log already stored (``rebuild_throughput``).
The reverse drops the trigger and the functions; the tables go with the models.
"""

import hashlib
from pathlib import Path

from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "history/0019_throughput.sql": "39c4c2a3d316c4f0d97219f1801188cbe7f31df6e5ac0eb35de1b81edceea87a",
}

REVERSE = """
drop trigger if exists absurd_control_throughput on public.absurd_control_task_event;
drop function if exists absurd_control.on_task_event_insert();
drop function if exists absurd_control.rebuild_throughput();
drop function if exists absurd_control.prune_throughput(timestamptz, interval, interval, integer);
drop function if exists absurd_control.throughput_bucket(smallint, timestamptz);
drop function if exists absurd_control.duration_bin(double precision);
"""


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(
                f"{SQL_DIR / name} is not the version 0019_throughput_charts applies"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("absurd_core", "0018_wakeups_pointer"),
    ]

    operations = [
        migrations.CreateModel(
            name="RunDurationBucket",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("span", models.SmallIntegerField()),
                ("bucket", models.DateTimeField()),
                ("queue", models.TextField()),
                ("tenant", models.TextField()),
                ("task_name", models.TextField()),
                ("bin", models.SmallIntegerField()),
                ("writer", models.IntegerField(default=0)),
                ("runs", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "absurd_control_run_duration",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("span", "bucket", "queue", "tenant", "task_name", "bin", "writer"),
                        name="run_duration_bucket_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ThroughputBucket",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("span", models.SmallIntegerField()),
                ("bucket", models.DateTimeField()),
                ("queue", models.TextField()),
                ("tenant", models.TextField()),
                ("writer", models.IntegerField(default=0)),
                ("completed", models.BigIntegerField(default=0)),
                ("failed", models.BigIntegerField(default=0)),
                ("retried", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "absurd_control_throughput",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("span", "bucket", "queue", "tenant", "writer"),
                        name="throughput_bucket_key",
                    )
                ],
            },
        ),
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL((SQL_DIR / "history/0019_throughput.sql").read_text(), REVERSE),
        migrations.RunSQL("select absurd_control.rebuild_throughput()", migrations.RunSQL.noop),
    ]
