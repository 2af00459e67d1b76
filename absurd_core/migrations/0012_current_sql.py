"""The lifecycle SQL's current truth: absurd_core/sql/*.sql, one file per topic,
each function defined once (docs/lifecycle.md, "Where the SQL is").

The earlier migrations keep running their frozen files in absurd_core/sql/history/;
this one applies the current files over them (every file is idempotent: create or
replace, if not exists). What changes for a database migrated so far:

- the per-queue update trigger reads as a list of consequences (classify, log,
  dead-letter, hook), behaviour unchanged;
- ``absurd_control.notify_changed`` and its ``absurd_control_changed`` channel are
  gone: nobody listened, and every spawn and transition paid for them;
- apps above the core add per-queue equipment through the installer registry
  (``absurd_control.queue_installer``) instead of replacing ``install_queue``: the
  tenant concurrency limiter registers its release trigger there (tenants 0009),
  and writes the event log only through ``absurd_control.log_deferral``.

``SQL_FILES`` records the sha256 of each file this migration applies, in order;
tests/core/test_sql_current_truth.py fails when a file no longer matches. To change
a current file: copy the recorded version to ``history/0012_<name>`` and point this
migration at it, then add a migration that applies the new file with its checksum.
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# Applied in this order: install.sql last, as it ends by equipping every queue.
SQL_FILES = {
    "history/0012_lifecycle.sql": "701169e8349dc8cc2b119996e0a1cf9fc6c65877e4a9197f92bae6aeff410c21",
    "history/0012_wakeups.sql": "8e4c2490b7a5a499fd9a618bd2905ecce8bded2dc67f616b3f15c9325f3bc44d",
    "indexes.sql": "35ad17e6e81aa21aee81298d274eeed14206d6e284222555a25830e5be8ad1cc",
    "pause.sql": "f3d24c378ab5110b46ef0acf6316447c192d1831df846a760cd4c503262a2a20",
    "retries.sql": "00a6531fae9fbe7e7c395bc486f05cf1785875ecf81b0ef8081d6ce0fee756fe",
    "install.sql": "a67ccb427e9729fc01e931d692a6ff27d259028c084300d0437881eef6f41ea6",
}


SQL = "\n".join((SQL_DIR / name).read_text() for name in SQL_FILES)
SQL += "\ndrop function if exists absurd_control.notify_changed(text);\n"


def check_files(apps, schema_editor):
    """Refuse to apply a file that is not the version recorded above (see the docstring)."""
    for name, digest in SQL_FILES.items():
        if hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{SQL_DIR / name} is not the version 0012_current_sql applies")


# Back to 0011: the frozen files again, in order (idempotent, each ends by equipping
# every queue, and 0005's brings back notify_changed), then drop what only this
# migration created. Installers registered by other apps are reversed by their own
# migrations first (they depend on this one).
REVERSE = (
    "".join(
        (SQL_DIR / "history" / name).read_text() + "\n"
        for name in (
            "0002_queue_setup.sql",
            "0005_lifecycle.sql",
            "0006_tenant_concurrency.sql",
            "0007_pause_and_listener_log.sql",
            "0009_dashboard_indexes.sql",
            "0010_engine_sized_indexes.sql",
            "0011_mixed_fleets.sql",
        )
    )
    + """
drop function if exists absurd_control.run_queue_installers(text, text);
drop table if exists absurd_control.queue_installer;
drop function if exists absurd_control.log_deferral(text, uuid, boolean, text, jsonb);
drop function if exists absurd_control.record_dead_letter(text, text, uuid, text, jsonb, integer);
drop function if exists absurd_control.resolve_dead_letter(text, uuid);
"""
)


class Migration(migrations.Migration):
    dependencies = [("absurd_core", "0011_mixed_fleets")]

    operations = [
        migrations.RunPython(check_files, migrations.RunPython.noop),
        migrations.RunSQL(SQL, REVERSE),
    ]
