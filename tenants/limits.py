"""Spawn-rate limits: a token bucket per tenant, enforced by one SQL statement.

Platform tenants are exempt. A tenant without its own policy gets the platform
default (the policy row without a tenant), never "unlimited". When the
limiter's storage fails, the policy's ``spawn_fail_open`` decides, and the
failure is logged (``limiter_failed``, off the hot path: no subtransaction per
spawn).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction

from absurd_core.errors import LimiterUnavailable, RateLimited, first_line
from absurd_core.hooks import ClaimAdmission, SpawnGate

__all__ = [
    "CLAIM_ADMISSION",
    "GATE_OR_RAISE_SQL",
    "RATE_LIMITED_SQLSTATE",
    "SPAWN_GATE",
    "LimiterUnavailable",  # defined in absurd_core.errors (re-exported, deprecated here)
    "RateLimited",  # defined in absurd_core.errors (re-exported, deprecated here)
    "check_verdict",
    "limiter_failed",
    "spawn_fail_open",
    "take_spawn_token",
    "wait_of",
]

logger = logging.getLogger("tenants.limits")


#: SQL fragment: 0 when one spawn of ``%(tenant)s`` may go ahead; over the limit it raises
#: SQLSTATE ``RATE_LIMITED_SQLSTATE`` with the seconds to wait as DETAIL.
GATE_OR_RAISE_SQL = "absurd_control_spawn_gate_or_raise(%(tenant)s, 1)"
RATE_LIMITED_SQLSTATE = "AC429"


def wait_of(error: BaseException) -> float:
    """The seconds to wait that an AC429 error carries (its DETAIL); 1 if unreadable."""
    cause = error
    while cause is not None:
        diag = getattr(cause, "diag", None)
        if diag is not None and diag.message_detail:
            try:
                return float(diag.message_detail)
            except ValueError:
                break
        cause = cause.__cause__
    return 1.0


def check_verdict(tenant_slug: str, retry_after: float) -> None:
    """Raise RateLimited when the gate asked to wait; return when the spawn may stand."""
    if retry_after > 0:
        raise RateLimited(tenant_slug, float(retry_after))


def spawn_fail_open(tenant_slug: str) -> bool:
    """The tenant's ``spawn_fail_open`` (its own policy, else the default); closed if unreadable."""
    from tenants.models import RateLimitPolicy

    try:
        own = RateLimitPolicy.objects.filter(tenant__slug=tenant_slug).first()
        policy = own or RateLimitPolicy.objects.filter(tenant__isnull=True).first()
        return bool(policy and policy.spawn_fail_open)
    except DatabaseError:
        return False


def limiter_failed(tenant_slug: str, error: BaseException) -> None:
    """The gate's storage failed: log it, then fail open (return) or closed (raise).

    Call it inside the caller's transaction, after the spawn went through without
    the gate; raising rolls that spawn back.
    """
    fail_open = spawn_fail_open(tenant_slug)
    logger.error(
        "spawn limiter failed for tenant %s; failing %s: %s",
        tenant_slug,
        "open" if fail_open else "closed",
        first_line(error),
    )
    if not fail_open:
        raise LimiterUnavailable(
            tenant_slug, 1.0, "The spawn limiter is unavailable; nothing was spawned."
        )


def take_spawn_token(tenant_slug: str, *, cost: int = 1) -> None:
    """Take ``cost`` tokens from the tenant's bucket or raise RateLimited.

    absurd_control_spawn_gate (tenants/sql/) does the policy lookup and the
    bucket in one statement. Call it in the transaction that spawns: raising
    rolls the spawn back. ``absurd_core.spawn`` folds the same gate into its
    spawn statement instead (one round trip).
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("select absurd_control_spawn_gate(%s, %s)", [tenant_slug, float(cost)])
            (retry_after,) = cursor.fetchone()
    except DatabaseError as exc:
        limiter_failed(tenant_slug, exc)
        return
    check_verdict(tenant_slug, retry_after)


def _refused(tenant_slug: str, error: BaseException) -> RateLimited:
    return RateLimited(tenant_slug, wait_of(error))


#: The spawn gate TenantsConfig.ready() registers into the core (absurd_core/hooks.py).
SPAWN_GATE = SpawnGate(
    sql=GATE_OR_RAISE_SQL,
    refused_sqlstate=RATE_LIMITED_SQLSTATE,
    refused=_refused,
    failed=limiter_failed,
)

#: The tenant's concurrency limit, applied to each claimed run inside the claim statement
#: (a run over the limit is parked again: tenants/sql/concurrency.sql).
CLAIM_ADMISSION = ClaimAdmission(
    sql="absurd_control.admit_claimed_run(%(queue)s, c.run_id, c.headers->>'tenant')"
)
