"""Install, adopt or upgrade the Absurd schema bundled in the pinned ``absurdctl``.

We never copy the engine's SQL: it is read from ``absurdctl`` at the version
pyproject pins, and upgrades use the migrations the same package bundles.
"""

from __future__ import annotations

from dataclasses import dataclass

import absurdctl

from absurd_core.errors import SchemaMismatch

PINNED_VERSION: str = absurdctl.ABSURD_SCHEMA_TARGET_VERSION
UPGRADE_COMMAND = "python manage.py absurd_upgrade"


@dataclass(frozen=True)
class SchemaStatus:
    #: None when there is no ``absurd`` schema at all.
    installed: str | None
    pinned: str = PINNED_VERSION

    @property
    def missing(self) -> bool:
        return self.installed is None

    @property
    def matches(self) -> bool:
        return self.installed == self.pinned


def installed_version(cursor) -> str | None:
    """The version the database reports, "unknown" for an unversioned schema, or None."""
    cursor.execute("select to_regnamespace('absurd') is not null")
    if not cursor.fetchone()[0]:
        return None
    cursor.execute("select to_regprocedure('absurd.get_schema_version()') is not null")
    if not cursor.fetchone()[0]:
        return "unknown"
    cursor.execute("select absurd.get_schema_version()")
    return cursor.fetchone()[0]


def status(connection) -> SchemaStatus:
    with connection.cursor() as cursor:
        return SchemaStatus(installed_version(cursor))


def mismatch_message(installed: str) -> str:
    if installed != "unknown" and absurdctl.compare_versions(installed, PINNED_VERSION) > 0:
        return (
            f"The database has Absurd schema {installed}, newer than the {PINNED_VERSION} "
            "this Absurd Control pins. Upgrade Absurd Control; downgrades are not supported."
        )
    return (
        f"The database has Absurd schema {installed}; this Absurd Control needs "
        f"{PINNED_VERSION}. Run `{UPGRADE_COMMAND}` to apply the upstream migrations."
    )


def install_or_adopt(connection) -> str:
    """Install the pinned schema on an empty database, adopt a matching one, refuse others.

    Returns "installed" or "adopted".
    """
    with connection.cursor() as cursor:
        installed = installed_version(cursor)
        if installed is None:
            cursor.execute(absurdctl.BUNDLED_SCHEMA_SQL)
            return "installed"
    if installed != PINNED_VERSION:
        raise SchemaMismatch(mismatch_message(installed))
    return "adopted"


def upgrade_plan(installed: str) -> list[dict]:
    """The bundled upstream migrations that lead from ``installed`` to the pinned version."""
    if installed == "unknown":
        raise SchemaMismatch(
            "The database has an Absurd schema without a version; it cannot be upgraded "
            "automatically. See https://earendil-works.github.io/absurd/ for manual steps."
        )
    path = absurdctl.resolve_migration_path(
        installed, PINNED_VERSION, absurdctl.discover_bundled_migrations()
    )
    if path is None:
        raise SchemaMismatch(mismatch_message(installed))
    return path


def upgrade(connection) -> list[str]:
    """Apply the upgrade plan in one transaction; returns the migration names applied."""
    from django.db import transaction

    with connection.cursor() as cursor:
        installed = installed_version(cursor)
    if installed is None:
        raise SchemaMismatch("There is no Absurd schema to upgrade. Run `manage.py migrate`.")
    plan = upgrade_plan(installed)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for step in plan:
            cursor.execute(absurdctl.get_migration_sql(step))
    return [step["name"] for step in plan]
