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
