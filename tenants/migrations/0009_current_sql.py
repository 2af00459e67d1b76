"""The tenants' SQL as current truth: tenants/sql/spawn_gate.sql and concurrency.sql.

spawn_gate.sql states, once, the spawn-rate limiter that tenants 0003, 0006, 0007 and
0008 built up (their frozen files stay in tenants/sql/history/); applying it changes no
behaviour.

The limiter (running slots, parked runs, the claim gate admit_claimed_run and the
release trigger) came in with absurd_core 0006 and 0010, whose frozen files stay in
absurd_core/sql/history/. From here its current truth is tenants', applied by this
migration, with two changes of shape and none of behaviour:

- the deferral's event-log rows are written by the core's
  ``absurd_control.log_deferral`` (absurd_core 0012) instead of this SQL rewriting
  the log's rows itself;
- the release trigger reaches every queue through the core's installer registry
  (``absurd_control.queue_installer``) instead of a replaced ``install_queue``.

``SQL_FILES`` records the sha256 of each file applied (tests/core/test_sql_current_truth.py).
"""

import hashlib
import re
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
CORE_HISTORY = Path(__file__).resolve().parent.parent.parent / "absurd_core" / "sql" / "history"

SQL_FILES = {
    "spawn_gate.sql": "3cc567bbcab12a78ff3ffb279091f061816d70eae1457b4c1208751d3f7a0562",
    "concurrency.sql": "7c44ede7b3688ee26e0c4f07f8b38d73c15b63723ae099607bfe2cb1da724c32",
}

SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version tenants 0009 applies")


# Back to absurd_core 0012's state (spawn_gate.sql changed nothing to undo): no installer registered (the release triggers
# already on queues stay, as before), and 0006's defer_run, which rewrites the log
# itself (0010 did not change it).
_DEFER_RUN = re.search(
    r"create or replace function absurd_control\.defer_run\(.*?\n\$\$;\n",
    (CORE_HISTORY / "0006_tenant_concurrency.sql").read_text(),
    re.DOTALL,
).group(0)
REVERSE = (
    """
delete from absurd_control.queue_installer where name = 'tenants.concurrency';
drop function if exists absurd_control.install_tenant_concurrency(text, text);
"""
    + _DEFER_RUN
)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0008_bucket_keys_of_any_length"),
        ("absurd_core", "0012_current_sql"),
    ]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
