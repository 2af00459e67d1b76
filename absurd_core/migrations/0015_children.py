"""Child workflows (issue 17): the children SQL as first released, frozen in
absurd_core/sql/history/0015_children.sql (0017_children_locks applies the current
absurd_core/sql/children.sql), applied with its checksum.

It adds the parent-wait table ``absurd_control.child_wait``, the functions a parent's
``ctx.await_children`` calls, and, through the installer registry, the per-queue
equipment on every task table, existing and new: the partial indexes ``ac_parent_<md5>``
and ``ac_root_<md5>`` on the relationship headers and the trigger
``absurd_control_children`` (wake a waiting parent, cascade a parent's cancel).

``SQL_FILES`` records the sha256 of the file (tests/core/test_sql_current_truth.py).
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

SQL_FILES = {
    "history/0015_children.sql": "34bb6c8b4c3a61569be45633cf966e8503000de4dbedf7c5dd75fd60bf889844",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0015_children applies")


REVERSE = """
delete from absurd_control.queue_installer where name = 'absurd_core.children';
do $$
declare
  v_queue text;
  v_tasks regclass;
begin
  for v_queue in select queue_name from absurd.queues loop
    v_tasks := absurd_control.queue_table('t_', v_queue);
    if v_tasks is not null then
      execute format('drop trigger if exists absurd_control_children on %s', v_tasks);
    end if;
    execute format('drop index if exists absurd.%I', 'ac_parent_' || left(md5(v_queue), 20));
    execute format('drop index if exists absurd.%I', 'ac_root_' || left(md5(v_queue), 20));
  end loop;
end;
$$;
drop function if exists absurd_control.install_children(text, text);
drop function if exists absurd_control.on_task_ended_children();
drop function if exists absurd_control.child_outcomes(jsonb);
drop function if exists absurd_control.register_child_wait(text, uuid, text, text, integer, jsonb);
drop function if exists absurd_control.fire_child_wait(text, text, uuid, text);
drop function if exists absurd_control.header_uuid(jsonb, text);
drop table if exists absurd_control.child_wait;
"""


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0014_metrics_indexes")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
