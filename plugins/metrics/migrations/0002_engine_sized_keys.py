"""Keys that accept any tenant the engine accepts (issue 14, defect 9).

The tenant of a total or a dead letter is a task's ``headers.tenant``, of any
length; a btree entry holds at most about 2,700 bytes, so a 3,200-character
tenant failed the dead-letter trigger (metrics_dead_letter_open) and every
scrape after it (metrics_total_key). The totals' key now holds md5(tenant), and
the open-dead-letters index only the queue: the scrape reads each open dead
letter anyway, and there are few.
"""

import django.db.models.functions.text
from django.db import migrations, models

INDEX = """
drop index if exists metrics_dead_letter_open;
create index if not exists metrics_dead_letter_open
  on absurd_control_dead_letter (queue) where state = 'open';
"""

REVERSE_INDEX = """
drop index if exists metrics_dead_letter_open;
create index if not exists metrics_dead_letter_open
  on absurd_control_dead_letter (queue, tenant) where state = 'open';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0001_task_totals"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="tasktotal", name="metrics_total_key"),
        migrations.AddConstraint(
            model_name="tasktotal",
            constraint=models.UniqueConstraint(
                models.F("queue"),
                django.db.models.functions.text.MD5("tenant"),
                models.F("kind"),
                name="metrics_total_key",
            ),
        ),
        migrations.RunSQL(INDEX, REVERSE_INDEX),
    ]
