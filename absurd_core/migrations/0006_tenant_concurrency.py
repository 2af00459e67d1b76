"""Tenant concurrency limits applied at claim time.

The SQL is in absurd_core/sql/history/0006_tenant_concurrency.sql, commented. It reads
the tenants' policies, hence the dependency on tenants 0004.
"""

from pathlib import Path

from django.db import migrations, models

SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0006_tenant_concurrency.sql"
).read_text()
LIFECYCLE_SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0005_lifecycle.sql"
).read_text()

# Dropping on_run_released with CASCADE drops its per-queue triggers; re-running
# 0005's SQL (idempotent) restores the installers without the release trigger.
REVERSE = (
    """
drop trigger if exists absurd_control_queue_dropped_release on absurd.queues;
drop function if exists absurd_control.on_queue_dropped_release();
drop function if exists absurd_control.on_run_released() cascade;
drop function if exists absurd_control.release_slot(text, uuid, text, text);
drop function if exists absurd_control.install_runs_release(text);
drop function if exists absurd_control.admit_claimed_run(text, uuid, text);
drop function if exists absurd_control.defer_run(text, uuid, text, integer);
drop function if exists absurd_control.park_backlog(text, text, integer);
drop function if exists absurd_control.repair_slots(text);
drop function if exists absurd_control.concurrency_policy(text);
drop table if exists absurd_control.parked_run;
drop table if exists absurd_control.running_slot;
"""
    + LIFECYCLE_SQL
)


class Migration(migrations.Migration):
    dependencies = [
        ("absurd_core", "0005_lifecycle_sql"),
        ("tenants", "0004_concurrency_limits"),
    ]

    operations = [
        migrations.AlterField(
            model_name="taskevent",
            name="kind",
            field=models.TextField(
                choices=[
                    ("spawned", "Spawned"),
                    ("claimed", "Claimed"),
                    ("deferred", "Deferred"),
                    ("sleeping", "Sleeping"),
                    ("woken", "Woken"),
                    ("completed", "Completed"),
                    ("retry_scheduled", "Retry Scheduled"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("retried", "Retried"),
                    ("event_emitted", "Event Emitted"),
                ]
            ),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
