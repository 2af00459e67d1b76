"""The open-dead-letters index, now owned by the app that owns the table.

``metrics_dead_letter_open`` keeps ``absurd_core.open_dead_letter_counts`` (published to
plugins; the metrics plugin scrapes it) cheap: it holds open dead letters only, by
queue. The metrics plugin's migrations created it on this app's table; the core now
creates it itself, with the same name and definition (``if not exists``), so a database
that has it already is unchanged and one without the metrics plugin gets it too.

Reversing leaves it in place: it may predate this migration (the metrics plugin's
0001/0002 made it), and an index costs a reversed schema nothing.
"""

from django.db import migrations

INDEX = """
create index if not exists metrics_dead_letter_open
  on absurd_control_dead_letter (queue) where state = 'open';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("absurd_core", "0013_schedules"),
    ]

    operations = [migrations.RunSQL(INDEX, migrations.RunSQL.noop)]
