"""Which database alias a read uses: the primary, or a streaming read replica.

When a second alias ``replica`` is configured (``DATABASE_REPLICA_URL``, docs/scaling.md), a
request that may read from it says so with ``reads_from(REPLICA)`` (the middleware in
config/replica.py does, for safe-method requests whose user has no write pending on the
replica). Reads made through this module then use the replica; everything else, and every
process without such a request (workers, commands, tests), uses the primary.

Any write pins the rest of the request to the primary (``pin_to_primary``): the ORM router
calls it for every model write, and the middleware for any other statement that changes
data; a read that follows a write in the same request sees it.

The core's reads (``absurd_core/queries``) use ``connections`` below in place of Django's:
``connections["default"]`` is the alias the current request reads from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connections as django_connections

PRIMARY = "default"
REPLICA = "replica"

_reads: ContextVar[str | None] = ContextVar("absurd_control_reads", default=None)


def replica_configured() -> bool:
    return REPLICA in django_connections.settings


def read_alias(using: str = PRIMARY) -> str:
    """The alias a read meant for ``using`` goes to in the current context."""
    if using != PRIMARY:
        return using
    return _reads.get() or PRIMARY


def pin_to_primary() -> None:
    """From now on in this context, reads go to the primary (a write happened)."""
    if _reads.get() not in (None, PRIMARY):
        _reads.set(PRIMARY)


def pinned() -> bool:
    return _reads.get() in (None, PRIMARY)


@contextmanager
def reads_from(alias: str) -> Iterator[None]:
    """Run the block with reads going to ``alias`` (until a write pins them to the primary)."""
    token = _reads.set(alias)
    try:
        yield
    finally:
        _reads.reset(token)


class _ReadConnections:
    """Django's ``connections`` with the primary alias resolved through ``read_alias``."""

    def __getitem__(self, alias: str):
        return django_connections[read_alias(alias)]


connections = _ReadConnections()
