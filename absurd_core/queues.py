"""Queue names (validated before any name reaches SQL) and queue pauses.

The engine caps names at 57 UTF-8 bytes (so generated identifiers such as
``r_<queue>_sai`` fit PostgreSQL's 63-byte limit) and otherwise accepts any
quoted identifier, including ``a; drop table x``. Names also appear in URLs,
log lines, NOTIFY channels and shell commands, so we accept a conservative
set: ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter,
digit or ``_``. Queue names still travel to SQL only as parameters or
``psycopg.sql.Identifier``; this check is for clear errors, not for safety.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import connections

from absurd_core.errors import InvalidQueueName
from absurd_core.read_routing import read_alias

MAX_QUEUE_NAME_BYTES = 57
_ALLOWED = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def validate_queue_name(name: object) -> str:
    """Return ``name`` unchanged if it is a valid queue name, else raise InvalidQueueName."""
    if not isinstance(name, str):
        raise InvalidQueueName(f"Queue name must be a string, not {type(name).__name__}.")
    if name == "":
        raise InvalidQueueName("Queue name must not be empty.")
    size = len(name.encode("utf-8"))
    if size > MAX_QUEUE_NAME_BYTES:
        raise InvalidQueueName(
            f"Queue name is too long: {size} bytes (at most {MAX_QUEUE_NAME_BYTES})."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidQueueName(f"Queue name {name!r} contains control characters.")
    if not _ALLOWED.fullmatch(name):
        raise InvalidQueueName(
            f"Queue name {name!r} is not allowed: use ASCII letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_'."
        )
    return name


@dataclass(frozen=True)
class Pause:
    paused_at: datetime
    paused_by: str


def pauses(*, using: str = "default") -> dict[str, Pause]:
    """Paused queues by name (absurd_control.queue_pause)."""
    with connections[read_alias(using)].cursor() as cursor:
        cursor.execute("select queue_name, paused_at, paused_by from absurd_control.queue_pause")
        return {name: Pause(at, by) for name, at, by in cursor.fetchall()}
