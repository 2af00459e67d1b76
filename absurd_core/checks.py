"""System checks: the database holds the Absurd schema this project pins."""

from __future__ import annotations

from django.core.checks import Error, Warning, register
from django.db import DatabaseError, connection

from absurd_core import schema


@register("absurd")
def check_absurd_schema(app_configs=None, **kwargs):
    try:
        current = schema.status(connection)
    except DatabaseError as exc:
        return [
            Warning(
                f"Cannot check the Absurd schema: the database is unreachable ({exc}).",
                id="absurd_core.W002",
            )
        ]
    if current.missing:
        return [
            Warning(
                f"The Absurd schema is not installed (this project pins {current.pinned}).",
                hint="Run `python manage.py migrate`.",
                id="absurd_core.W001",
            )
        ]
    if not current.matches:
        return [
            Error(
                schema.mismatch_message(current.installed),
                hint=f"Run `{schema.UPGRADE_COMMAND}`.",
                id="absurd_core.E001",
            )
        ]
    return []


@register("absurd")
def check_database_pooler(app_configs=None, **kwargs):
    """Refuse a transaction-mode PgBouncer that cannot carry our prepared statements."""
    from django.conf import settings

    from absurd_core import pooler

    found = pooler.check_messages("default", getattr(settings, "DATABASE_POOLER", ""))
    if found is None:
        return []
    level, message = found
    hint = (
        "Set DATABASE_POOLER=transaction to turn server-side prepared statements and binding "
        "off (docs/scaling.md, 'A connection pooler')."
    )
    if level == "error":
        return [Error(message, hint=hint, id="absurd_core.E020")]
    return [Warning(message, hint=hint, id="absurd_core.W020")]
