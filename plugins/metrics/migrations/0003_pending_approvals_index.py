"""The pending-approvals index without the tenant (issue 14, defect 9).

An approval request carries its task's ``headers.tenant``, of any length; a btree
entry holds at most about 2,700 bytes, so a task with a 3,200-character tenant
could not ask for an approval while metrics_approval_pending indexed the tenant.
The scrape groups the pending requests by tenant, reading each one anyway, and
there are few: the partial index on ``created_at`` alone serves it as well.
"""

from django.db import migrations

INDEX = """
drop index if exists metrics_approval_pending;
create index if not exists metrics_approval_pending
  on approvals_approvalrequest (created_at) where state = 'pending';
"""

REVERSE_INDEX = """
drop index if exists metrics_approval_pending;
create index if not exists metrics_approval_pending
  on approvals_approvalrequest (tenant, created_at) where state = 'pending';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0002_engine_sized_keys"),
        ("approvals", "0003_engine_sized_tenant_index"),
    ]

    operations = [migrations.RunSQL(INDEX, REVERSE_INDEX)]
