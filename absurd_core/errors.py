"""Typed exceptions for engine errors.

Absurd raises SQLSTATE ``AB001`` (task cancelled), ``AB002`` (run already
failed) and ``AB003`` (invalid argument), and plain ``raise exception``
(SQLSTATE P0001) for everything else. :func:`translate` turns a database error
into one of these with the engine's own message.
"""

from __future__ import annotations


class AbsurdError(Exception):
    """Base class for errors raised by the Absurd engine or our wrapper."""

    sqlstate: str | None = None

    def __init__(self, message: str, *, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        if sqlstate is not None:
            self.sqlstate = sqlstate


class InvalidQueueName(AbsurdError, ValueError):
    """A queue name that the engine would reject or that is unsafe to use."""


class QueueNotFound(AbsurdError, LookupError):
    """The queue does not exist."""


class TaskNotFound(AbsurdError, LookupError):
    """No task with that id in that queue."""


class TaskCancelled(AbsurdError):
    """SQLSTATE AB001: the task was cancelled."""

    sqlstate = "AB001"


class RunFailed(AbsurdError):
    """SQLSTATE AB002: the run has already failed (its lease was lost)."""

    sqlstate = "AB002"


class InvalidArgument(AbsurdError, ValueError):
    """SQLSTATE AB003: an argument the engine rejects (e.g. a bad retry strategy)."""

    sqlstate = "AB003"


class SchemaMismatch(AbsurdError):
    """The database holds a different Absurd schema version than the pinned one."""


class RateLimited(Exception):
    """Over the tenant's spawn rate; nothing was spawned.

    Raised by the spawn gate ``tenants`` registers (absurd_core/hooks.py); defined here
    so that the core and its callers catch it without importing ``tenants``.
    """

    def __init__(self, tenant: str, retry_after: float, message: str | None = None):
        self.tenant = tenant
        self.retry_after = retry_after
        super().__init__(
            message or f"Tenant {tenant!r} is over its spawn rate; retry in {retry_after:.2f} s."
        )


class LimiterUnavailable(RateLimited):
    """The limiter's storage failed and the policy fails closed."""


_BY_SQLSTATE = {"AB001": TaskCancelled, "AB002": RunFailed, "AB003": InvalidArgument}


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, also when Django wrapped it."""
    for candidate in (exc, exc.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if code:
            return code
    return None


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of ``exc``'s message, for one-line logs; ``default`` (else
    ``repr(exc)``) when the message is empty."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return repr(exc) if default is None else default


def message_of(exc: BaseException) -> str:
    for candidate in (exc.__cause__, exc):
        diag = getattr(candidate, "diag", None)
        if diag is not None and diag.message_primary:
            return diag.message_primary
    return first_line(exc, exc.__class__.__name__)


def translate(exc: BaseException) -> AbsurdError:
    code = sqlstate_of(exc)
    message = message_of(exc)
    cls = _BY_SQLSTATE.get(code or "")
    if cls is None:
        if code == "42P01":  # undefined_table: the queue's tables do not exist
            cls = QueueNotFound
            message = f"Queue does not exist ({message})"
        elif "does not exist" in message and message.startswith("Queue"):
            cls = QueueNotFound
        elif code == "22023" or code == "P0001":
            cls = InvalidArgument if code == "22023" else AbsurdError
        else:
            cls = AbsurdError
    return cls(message, sqlstate=code)
