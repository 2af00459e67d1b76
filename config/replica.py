"""Dashboard and API reads from a streaming read replica (docs/scaling.md).

With ``DATABASE_REPLICA_URL`` set there is a second alias, ``replica``:

- ``ReplicaReadsMiddleware`` lets a GET or HEAD request read from the replica
  (``absurd_core.read_routing``). Any write pins the rest of the request to the primary, and
  a request that wrote (every other method counts as one) leaves a signed cookie with the
  primary's WAL position: that browser's following requests read from the primary until the
  replica has replayed that position, so a user sees their own changes at once (the redirect
  after a cancel, a retry, an approval). An unreachable replica sends reads to the primary.
  ``request.replica_status`` says how far behind the replica is, for the banner
  (dashboard/replica_banner.py).
- ``ReplicaRouter`` sends the engine room's models (dead letters, workers...) to that alias
  and everything else (users, sessions, memberships, API keys, approval tokens) to the
  primary, so a revoked membership or a fresh approval link never waits for replay. Writes go
  to the primary; a write to those models pins the request; migrations run on the primary
  only. Bookkeeping writes (an API key's last use, a session, a login) do not pin.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections

from absurd_core.queries.replica import primary_position, replica_status
from absurd_core.read_routing import (
    PRIMARY,
    REPLICA,
    pin_to_primary,
    read_alias,
    reads_from,
    replica_configured,
)

#: The cookie naming the primary's WAL position after this browser's last write.
PIN_COOKIE = "absurd_read_after"
PIN_SALT = "absurd_control.replica.pin"
#: How long a pin may last; a replica further behind than this is shown in the banner.
PIN_MAX_AGE = 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Statements that change data (any other statement a read-only request runs is a read).
WRITE_VERBS = ("insert", "update", "delete", "merge", "copy", "truncate", "create", "drop")
#: Apps whose models may be read from the replica.
REPLICA_APPS = frozenset({"absurd_core"})
#: Bookkeeping writes (an API key's last use, a session, a login) change nothing that is read
#: from the replica: they do not pin.
UNPINNED_TABLES = ('"tenants_apikey"', '"django_session"', '"auth_user"')


class _WriteWatch:
    """A primary connection's execute wrapper: a statement that writes pins the request."""

    def __init__(self):
        self.wrote = False

    def __call__(self, execute, sql, params, many, context):
        text = sql if isinstance(sql, str) else str(sql)
        if text.lstrip().lower().startswith(WRITE_VERBS) and not any(
            table in text for table in UNPINNED_TABLES
        ):
            self.wrote = True
            pin_to_primary()
        return execute(sql, params, many, context)


class ReplicaReadsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.replica_status = None
        if not replica_configured():
            return self.get_response(request)
        alias, pending = PRIMARY, None
        if request.method in SAFE_METHODS:
            pending = request.get_signed_cookie(
                PIN_COOKIE, default=None, salt=PIN_SALT, max_age=PIN_MAX_AGE
            )
            status = replica_status(pending)
            request.replica_status = status
            if status.reachable and status.caught_up:
                alias = REPLICA
        watch = _WriteWatch()
        with reads_from(alias), connections[PRIMARY].execute_wrapper(watch):
            response = self.get_response(request)
        if request.method not in SAFE_METHODS or watch.wrote:
            response.set_signed_cookie(
                PIN_COOKIE,
                primary_position(),
                salt=PIN_SALT,
                max_age=PIN_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        elif pending is not None and alias == REPLICA:
            response.delete_cookie(PIN_COOKIE, samesite="Lax")
        return response


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label in REPLICA_APPS:
            return read_alias(PRIMARY)
        return PRIMARY

    def db_for_write(self, model, **hints):
        if model._meta.app_label in REPLICA_APPS:
            pin_to_primary()
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None
