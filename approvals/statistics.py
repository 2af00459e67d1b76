"""Approval statistics by tenant, for platform metrics: published to plugins (a facade).

The metrics plugin reads approvals only through these two functions; the partial
indexes that keep them cheap (``metrics_approval_pending``, ``metrics_approval_decided``)
belong to approvals (approvals/migrations/0004_metrics_indexes.py). Both take a scope,
like every read: the metrics plugin passes ``ALL_TENANTS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import connections
from django.db.models import Count, DurationField, F, FloatField, Func, Min, Value
from django.db.models.functions import Now

from absurd_core.tenancy import TenantScope
from approvals.models import ApprovalRequest
from approvals.requests import requests_for
from tenants.models import Tenant


@dataclass(frozen=True)
class Pending:
    tenant: str
    count: int
    #: Age in seconds of the oldest pending request (the database's clock); None for none.
    oldest_seconds: float | None


@dataclass(frozen=True)
class Decisions:
    tenant: str
    count: int
    #: Sum of the decision latencies (decided_at - created_at), in seconds.
    total_seconds: float
    #: The latency quantiles asked for, in their order.
    quantiles: list[float]


def _epoch(expression) -> Func:
    return Func(expression, template="extract(epoch from %(expressions)s)::float8",
                output_field=FloatField())  # fmt: skip


def pending_by_tenant(scope: TenantScope) -> list[Pending]:
    """Pending requests per tenant of ``scope``: every tenant of ``scope`` (tenants.models),
    zero when it has none, and any other tenant a pending request names.

    Cost: the partial index ``metrics_approval_pending``, which holds pending requests
    only; plus the tenants table, one row per tenant.
    """
    rows = (
        requests_for(scope, state=ApprovalRequest.State.PENDING)
        .values("tenant")
        .annotate(n=Count("id"), age=_epoch(Now() - Min("created_at")))
        .order_by()
    )
    found = {r["tenant"]: Pending(r["tenant"], r["n"], r["age"]) for r in rows}
    for slug in scope.restrict(Tenant.objects.all(), "slug").values_list("slug", flat=True):
        found.setdefault(slug, Pending(slug, 0, None))
    return sorted(found.values(), key=lambda p: p.tenant)


def decisions_by_tenant(
    scope: TenantScope, *, window_seconds: int, quantiles: tuple[float, ...]
) -> list[Decisions]:
    """Requests approved or rejected in the last ``window_seconds``, per tenant of ``scope``
    with at least one: how many, the sum of their latencies and its ``quantiles``
    (``percentile_cont``). Cost: a range scan of the partial index
    ``metrics_approval_decided`` (decided requests, by decision time) over the window."""
    decided = (
        requests_for(scope)
        .filter(
            state__in=[ApprovalRequest.State.APPROVED, ApprovalRequest.State.REJECTED],
            # The window on the database's clock.
            decided_at__gte=Now() - Value(timedelta(seconds=window_seconds), DurationField()),
        )
        .annotate(s=_epoch(F("decided_at") - F("created_at")))
        .values("tenant", "s")
    )
    inner, params = decided.query.sql_with_params()
    # percentile_cont has no ORM aggregate: the scoped queryset's SQL is the subquery.
    with connections[decided.db].cursor() as cursor:
        query = (
            "select tenant, count(*), sum(s),"  # noqa: S608 (``inner`` is the ORM's own SQL)
            " percentile_cont(%s::float8[]) within group (order by s)"
            f" from ({inner}) d group by tenant"
        )
        cursor.execute(query, [list(quantiles), *params])
        return [Decisions(t, n, total, list(qs)) for t, n, total, qs in cursor.fetchall()]
