"""The Absurd schema migration: install, no-op, adopt, refuse, upgrade, check."""

import uuid

import absurdctl
import pytest
from psycopg import sql

from absurd_core.schema import PINNED_VERSION
from tests.helpers import manage, raw_connection


def _server_conn(dbname="postgres"):
    return raw_connection(dbname)


@pytest.fixture
def scratch_db(db):
    """An empty database on the same server, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with _server_conn() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield name
    with _server_conn() as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def _version(dbname):
    with _server_conn(dbname) as conn:
        return conn.execute("select absurd.get_schema_version()").fetchone()[0]


def test_pinned_version_is_0_5_1():
    assert PINNED_VERSION == "0.5.1"


def test_migrate_installs_then_is_a_no_op(scratch_db):
    first = manage("migrate", "--noinput", dbname=scratch_db)
    assert first.returncode == 0, first.stderr
    assert "Applying absurd_core.0001_absurd_schema... OK" in first.stdout
    assert _version(scratch_db) == "0.5.1"
    second = manage("migrate", "--noinput", dbname=scratch_db)
    assert second.returncode == 0, second.stderr
    assert "No migrations to apply." in second.stdout
    check = manage("check", dbname=scratch_db)
    assert check.returncode == 0
    assert "absurd_core" not in check.stdout + check.stderr


def test_existing_schema_of_the_same_version_is_adopted_unchanged(scratch_db):
    with _server_conn(scratch_db) as conn:
        conn.execute(absurdctl.BUNDLED_SCHEMA_SQL)
        conn.execute("select absurd.create_queue('kept')")
        conn.execute("select absurd.spawn_task('kept', 'x', '{}'::jsonb)")
    result = manage("migrate", "--noinput", dbname=scratch_db)
    assert result.returncode == 0, result.stderr
    with _server_conn(scratch_db) as conn:
        assert conn.execute('select count(*) from absurd."t_kept"').fetchone()[0] == 1
    assert _version(scratch_db) == "0.5.1"


def _fake_version(dbname, version):
    with _server_conn(dbname) as conn:
        conn.execute(absurdctl.BUNDLED_SCHEMA_SQL)
        conn.execute(
            "create or replace function absurd.get_schema_version() returns text"
            f" language sql as $$ select '{version}'::text $$"
        )


def test_mismatched_version_stops_migrate_with_both_versions_and_the_command(scratch_db):
    _fake_version(scratch_db, "0.4.0")
    result = manage("migrate", "--noinput", dbname=scratch_db)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "0.4.0" in output
    assert "0.5.1" in output
    assert "manage.py absurd_upgrade" in output
    check = manage("check", dbname=scratch_db)
    assert check.returncode != 0
    assert "absurd_core.E001" in check.stderr


def test_absurd_upgrade_applies_bundled_migrations(scratch_db):
    _fake_version(scratch_db, "0.4.0")
    dry = manage("absurd_upgrade", "--dry-run", dbname=scratch_db)
    assert dry.returncode == 0, dry.stderr
    assert "0.4.0-0.5.0.sql" in dry.stdout
    assert "0.5.0-0.5.1.sql" in dry.stdout
    result = manage("absurd_upgrade", dbname=scratch_db)
    assert result.returncode == 0, result.stderr
    assert "0.4.0 -> 0.5.1" in result.stdout
    assert _version(scratch_db) == "0.5.1"
    assert manage("migrate", "--noinput", dbname=scratch_db).returncode == 0


def test_newer_schema_is_refused_without_suggesting_a_downgrade(scratch_db):
    _fake_version(scratch_db, "9.0.0")
    result = manage("absurd_upgrade", dbname=scratch_db)
    assert result.returncode != 0
    assert "newer than the 0.5.1" in result.stderr


def test_check_reports_a_missing_schema(scratch_db):
    result = manage("check", dbname=scratch_db)
    assert "absurd_core.W001" in result.stderr
    assert "manage.py migrate" in result.stderr


def test_lifecycle_migration_reverses_cleanly_and_reapplies(scratch_db):
    assert manage("migrate", "--noinput", dbname=scratch_db).returncode == 0
    back = manage("migrate", "absurd_core", "0003", "--noinput", dbname=scratch_db)
    assert back.returncode == 0, back.stderr
    with _server_conn(scratch_db) as conn:
        conn.execute("select absurd.create_queue('after_reverse')")  # still possible
        triggers = {
            row[0]
            for row in conn.execute(
                "select tgname from pg_trigger where tgrelid in"
                " ('absurd.t_after_reverse'::regclass, 'absurd.r_after_reverse'::regclass)"
            )
        }
        assert triggers == {"absurd_control_wake"}
    forward = manage("migrate", "--noinput", dbname=scratch_db)
    assert forward.returncode == 0, forward.stderr
    with _server_conn(scratch_db) as conn:
        conn.execute("select absurd.spawn_task('after_reverse', 'x', '{}'::jsonb)")
        logged = conn.execute(
            "select count(*) from absurd_control_task_event where queue = 'after_reverse'"
        ).fetchone()[0]
    assert logged == 1  # re-applying equipped the existing queue too
