"""The lifecycle SQL states its current truth once (issue 15, item 5).

- ``absurd_core/sql/*.sql`` and ``tenants/sql/*.sql`` (not ``history/``) are the
  current truth, one file per topic; every function is defined in exactly one of them.
- A migration applies each current file and records its sha256 in ``SQL_FILES``.
  A current file that changes without a migration recording the new version fails
  here: freeze the recorded version into ``history/`` for the old migration, and add
  a migration that applies the new one (absurd_core/migrations/0012_current_sql.py).
"""

import hashlib
import importlib
import re
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
APPS = ("absurd_core", "tenants")


def _migrations(app):
    for path in sorted((ROOT / app / "migrations").glob("[0-9]*.py")):
        module = importlib.import_module(f"{app}.migrations.{path.stem}")
        if hasattr(module, "SQL_FILES"):
            yield path.stem, module


def _current_files(app):
    return sorted((ROOT / app / "sql").glob("*.sql"))


@pytest.mark.parametrize("app", APPS)
def test_every_recorded_file_is_the_version_its_migration_applies(app):
    recorded = list(_migrations(app))
    assert recorded, f"no migration of {app} records SQL_FILES"
    for name, module in recorded:
        for relative, digest in module.SQL_FILES.items():
            text = (ROOT / app / "sql" / relative).read_bytes()
            assert hashlib.sha256(text).hexdigest() == digest, (
                f"{app}/sql/{relative} changed, but {app} migration {name} applies the "
                f"recorded version: freeze that one into {app}/sql/history/ for {name} and "
                "add a migration that applies the new file with its checksum"
            )


@pytest.mark.parametrize("app", APPS)
def test_every_current_file_is_applied_by_a_migration(app):
    applied = {rel for _, module in _migrations(app) for rel in module.SQL_FILES}
    missing = [p.name for p in _current_files(app) if p.name not in applied]
    assert not missing, f"{app}/sql: no migration applies {missing}"


def test_each_function_is_defined_once_in_the_current_files():
    defined = {}
    pattern = re.compile(r"^create (?:or replace )?function\s+([\w.]+)\s*\(", re.M | re.I)
    for app in APPS:
        for path in _current_files(app):
            for name in pattern.findall(path.read_text()):
                defined.setdefault(name.lower(), []).append(f"{app}/sql/{path.name}")
    twice = {name: files for name, files in defined.items() if len(files) > 1}
    assert not twice
    assert "absurd_control.install_queue" in defined  # the pattern finds them


def test_the_database_runs_the_current_definitions(db):
    """Spot checks that the newest migration's SQL is what the database has."""
    with connection.cursor() as cursor:
        cursor.execute("select to_regprocedure('absurd_control.notify_changed(text)')")
        assert cursor.fetchone()[0] is None
        cursor.execute(
            "select name, function_name from absurd_control.queue_installer order by name"
        )
        assert cursor.fetchall() == [
            ("absurd_core.children", "absurd_control.install_children"),
            ("tenants.concurrency", "absurd_control.install_tenant_concurrency"),
        ]
        cursor.execute("select prosrc from pg_proc where oid = 'absurd_control.defer_run'::regproc")
        assert "absurd_control_task_event" not in cursor.fetchone()[0]  # the core logs
