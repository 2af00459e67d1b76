"""The test's own database connection, as the worker's code expects connections to be.

The fixture runs tasks on Django's connection, inside the test's transaction (so the
``db`` fixture's rollback undoes them, and task code using the ORM sees the test's
rows). Two differences from a worker connection are bridged here:

- Django's connection hands ``json``/``jsonb`` over as text; the worker's (and
  absurd-sdk's) code expects decoded values. ``JsonConnection`` gives each cursor
  psycopg's JSON loaders, on that cursor only (Django's own cursors are untouched).
- An ``async def`` task needs an async connection; one cannot share the test's
  transaction. ``AsyncOverSync`` offers the few awaitable calls absurd-sdk's async
  context and the async executor make, run synchronously on the same connection.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import JsonbLoader, JsonLoader


class JsonConnection:
    def __init__(self, raw) -> None:
        self._raw = raw

    def cursor(self, *args: Any, **kwargs: Any):
        cursor = self._raw.cursor(*args, **kwargs)
        cursor.adapters.register_loader("jsonb", JsonbLoader)
        cursor.adapters.register_loader("json", JsonLoader)
        return cursor

    def execute(self, query, params=None, **kwargs: Any):
        return self.cursor().execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _AsyncCursor:
    def __init__(self, cursor) -> None:
        self._cursor = cursor

    async def execute(self, query, params=None, **kwargs: Any) -> _AsyncCursor:
        self._cursor.execute(query, params, **kwargs)
        return self

    async def fetchone(self):
        return self._cursor.fetchone()

    async def fetchall(self):
        return self._cursor.fetchall()

    async def __aenter__(self) -> _AsyncCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class AsyncOverSync:
    def __init__(self, conn: JsonConnection) -> None:
        self._conn = conn

    def cursor(self, *args: Any, **kwargs: Any) -> _AsyncCursor:
        return _AsyncCursor(self._conn.cursor(*args, **kwargs))

    async def execute(self, query, params=None, **kwargs: Any) -> _AsyncCursor:
        return await self.cursor().execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
