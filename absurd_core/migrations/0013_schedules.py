"""Recurring schedules (issue 16): the ``absurd_control_schedule`` table and its wake-up
trigger (absurd_core/sql/schedules.sql, applied with its sha256 like 0012_current_sql).
See docs/schedules.md."""

import hashlib
from pathlib import Path

import django.db.models.functions.datetime
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQL_FILES = {
    "schedules.sql": "1bdc1b0247d77ad76eccca70c75b5b2c6d5a17a66fc04913ea9280577d146392",
}


def check_files(apps, schema_editor):
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0013_schedules applies")


SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)
REVERSE = """
drop trigger if exists absurd_control_schedule_changed on public.absurd_control_schedule;
drop function if exists absurd_control.notify_schedule_changed();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("absurd_core", "0012_current_sql"),
    ]

    operations = [
        migrations.CreateModel(
            name="Schedule",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tenant", models.TextField()),
                ("name", models.TextField()),
                ("task_name", models.TextField()),
                ("queue", models.TextField()),
                ("params", models.JSONField(blank=True, null=True)),
                ("headers", models.JSONField(blank=True, default=dict)),
                ("cron", models.TextField(blank=True, null=True)),
                ("every_seconds", models.IntegerField(blank=True, null=True)),
                ("timezone", models.TextField(default="UTC")),
                (
                    "catch_up",
                    models.TextField(choices=[("skip", "skip"), ("all", "all")], default="skip"),
                ),
                ("catch_up_cap", models.IntegerField(default=100)),
                ("jitter_seconds", models.IntegerField(default=0)),
                ("enabled", models.BooleanField(default=True)),
                ("code_owned", models.BooleanField(default=False)),
                ("next_fire_at", models.DateTimeField(blank=True, null=True)),
                ("due_at", models.DateTimeField(blank=True, null=True)),
                ("last_fire_at", models.DateTimeField(blank=True, null=True)),
                ("last_task_id", models.UUIDField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, null=True)),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                ("fires", models.BigIntegerField(default=0)),
                ("refusals", models.BigIntegerField(default=0)),
                ("skipped", models.BigIntegerField(default=0)),
                (
                    "created_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
                (
                    "updated_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
            ],
            options={
                "db_table": "absurd_control_schedule",
                "ordering": ["tenant", "name"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("enabled", True)),
                        fields=["due_at"],
                        name="schedule_due",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "name"), name="schedule_tenant_name"),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("cron__isnull", True),
                            ("every_seconds__isnull", True),
                            _connector="XOR",
                        ),
                        name="schedule_cron_xor_every",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("catch_up__in", ["skip", "all"])),
                        name="schedule_catch_up",
                    ),
                ],
            },
        ),
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
