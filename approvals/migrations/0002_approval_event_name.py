"""Record each request's event name (issue 14): unguessable for new requests.

Until now a decision was emitted as ``approval:<request id>``, a sequential name
any tenant's task could await and so read another tenant's decision. New
requests get ``approval:<random>:<task id>`` (approvals.models.approval_event_name).
Requests that exist already keep ``approval:<id>``: their workflows may be waiting
on it right now, and must still resume when the request is decided.
"""

from django.db import migrations, models

BACKFILL = """
-- The name existing requests' workflows await (or awaited): approval:<id>.
update approvals_approvalrequest set event_name = 'approval:' || id where event_name = '';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_approvals"),
    ]

    operations = [
        # Added with an empty default, filled in, then made unique without a default.
        migrations.AddField(
            model_name="approvalrequest",
            name="event_name",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="approvalrequest",
            name="event_name",
            field=models.TextField(unique=True),
        ),
    ]
