"""The metrics plugin's totals and cursor, and partial indexes that keep scrapes cheap.

The indexes cover only the rows a scrape reads (pending approvals, recent
decisions, open dead letters), so they stay small however large the tables
grow, and cost the write paths little: approvals and dead letters are written
at human rates.
"""

from django.db import migrations, models

INDEXES = """
create index if not exists metrics_approval_pending
  on approvals_approvalrequest (tenant, created_at) where state = 'pending';
create index if not exists metrics_approval_decided
  on approvals_approvalrequest (decided_at) where state in ('approved', 'rejected');
create index if not exists metrics_dead_letter_open
  on absurd_control_dead_letter (queue, tenant) where state = 'open';
"""

DROP_INDEXES = """
drop index if exists metrics_approval_pending;
drop index if exists metrics_approval_decided;
drop index if exists metrics_dead_letter_open;
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("absurd_core", "0007_pause_and_listeners"),
        ("approvals", "0001_approvals"),
    ]

    operations = [
        migrations.CreateModel(
            name="FoldCursor",
            fields=[
                ("name", models.TextField(primary_key=True, serialize=False)),
                ("last_txid", models.BigIntegerField(default=0)),
                ("last_id", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"db_table": "absurd_control_metrics_cursor"},
        ),
        migrations.CreateModel(
            name="TaskTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("queue", models.TextField()),
                ("tenant", models.TextField(blank=True, default="")),
                ("kind", models.TextField()),
                ("total", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "absurd_control_metrics_task_total",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("queue", "tenant", "kind"), name="metrics_total_key"
                    )
                ],
            },
        ),
        migrations.RunSQL(INDEXES, DROP_INDEXES),
    ]
