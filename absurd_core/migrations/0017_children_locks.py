"""Child workflows, one lock order (issue 17, follow-up): absurd_core/sql/children.sql.

A parent cancelled while one of its children ended could deadlock: the canceller held
the parent's wait row and waited for the child, the child's ender held the child and
waited for the wait row (or for the parent's run, to wake it). Now the ender announces
itself and takes the parent's runs FOR KEY SHARE before anything else of the parent's,
and the cancel cascade never waits for a child whose ender waits for the parent
(``absurd_control.cancel_child``). The SQL file explains the order ("Lock order").

The count of a wait's ended children moves to up to 8 shard rows
(``absurd_control.child_wait_shard``, new column ``child_wait.shards``): a child's end
adds one to its own shard, and only an end that could meet the condition takes the
wait's head row and sums the shards, so children ending on several worker threads no
longer queue behind one row lock held to commit. Open waits are carried over as one
shard each.

``SQL_FILES`` records the sha256 of the file (tests/core/test_sql_current_truth.py).
The reverse applies the version 0015_children applied (history/0015_children.sql).
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "children.sql": "4d1592c744e71d98858154331e624b543fa48af727783cc0ad51d3a5999dfc91",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)

# Back to 0016: 0015's frozen file again, the open waits' counts folded back into the head,
# then drop what only this migration created.
REVERSE_DROPS = (
    "\ndrop function if exists absurd_control.cancel_child(text, uuid);"
    "\nupdate absurd_control.child_wait w set done = coalesce((select sum(s.done)"
    " from absurd_control.child_wait_shard s where s.parent_task_id = w.parent_task_id"
    " and s.event_name = w.event_name), w.done) where w.fired_at is null;"
    "\ndrop table if exists absurd_control.child_wait_shard;"
    "\ndrop function if exists absurd_control.child_shard(uuid, integer);"
    "\nalter table absurd_control.child_wait drop column if exists shards;"
    "\ndrop function if exists absurd_control.child_ending_key(uuid);\n"
)
REVERSE = "\n".join(((SQL_DIR / "history" / "0015_children.sql").read_text(), REVERSE_DROPS))


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0017_children_locks applies")


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0016_delayed_starts")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
