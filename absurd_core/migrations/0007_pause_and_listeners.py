"""Paused queues (gating our workers' claims) and the event log as a feed for
plugin lifecycle listeners. The SQL is absurd_core/sql/history/0007_pause_and_listener_log.sql."""

from pathlib import Path

from django.db import migrations, models

SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "history" / "0007_pause_and_listener_log.sql"
).read_text()

REVERSE = """
drop index if exists task_event_txid;
alter table public.absurd_control_task_event drop column if exists txid;
drop trigger if exists absurd_control_queue_dropped_unpause on absurd.queues;
drop function if exists absurd_control.on_queue_dropped_unpause();
drop table if exists absurd_control.queue_pause;
drop function if exists absurd_control.on_queue_resumed();
drop function if exists absurd_control.queue_paused(text);
"""


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0006_tenant_concurrency")]

    operations = [
        migrations.CreateModel(
            name="ListenerCursor",
            fields=[
                ("listener", models.TextField(primary_key=True, serialize=False)),
                ("last_txid", models.BigIntegerField()),
                ("last_id", models.BigIntegerField(default=0)),
                ("failures", models.IntegerField(default=0)),
                ("last_error", models.TextField(blank=True, default="")),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"db_table": "absurd_control_listener_cursor"},
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
