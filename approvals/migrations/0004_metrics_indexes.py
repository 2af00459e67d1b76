"""The approval-statistics indexes, now owned by the app that owns the table.

``metrics_approval_pending`` and ``metrics_approval_decided`` keep
``approvals.statistics`` (published to plugins; the metrics plugin scrapes it) cheap:
each holds only the rows a statistic reads (pending requests; decided ones, by decision
time), so it stays small however large the table grows. The metrics plugin's migrations
created them on this app's table; approvals now creates them itself, with the same names
and definitions (``if not exists``), so a database that has them already is unchanged.

Reversing leaves them in place: they may predate this migration (the metrics plugin's
0001/0003 made them).
"""

from django.db import migrations

INDEXES = """
create index if not exists metrics_approval_pending
  on approvals_approvalrequest (created_at) where state = 'pending';
create index if not exists metrics_approval_decided
  on approvals_approvalrequest (decided_at) where state in ('approved', 'rejected');
"""


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0003_engine_sized_tenant_index"),
    ]

    operations = [migrations.RunSQL(INDEXES, migrations.RunSQL.noop)]
