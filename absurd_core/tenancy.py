"""Tenancy as the core sees it: which tenants a read may see, and the tenant filter.

Every read takes a scope; there is no default.

``ALL_TENANTS`` is the explicit value platform staff pass to see everything,
tasks without a tenant included. A one-tenant scope with ``tenantless`` also
covers what has no tenant: tasks spawned by other clients without a tenant
header (absurdctl, another SDK), and their event log, dead letters and audit.
Only a platform principal's scope has it (tenants.permissions.Principal); an
ordinary tenant never sees them.

The core owns these names so that it imports nothing of ``tenants``; ``tenants.scoping``
re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from django.db.models import Q, QuerySet
from psycopg import sql

from absurd_core.index_keys import tenant_q, text_equals, text_prefix_equals


class _AllTenants:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL_TENANTS"


ALL_TENANTS: Final = _AllTenants()


@dataclass(frozen=True)
class TenantScope:
    """The tenant slug a query is restricted to, or ALL_TENANTS."""

    tenant: str | _AllTenants
    #: Also what has no tenant (platform principals only).
    tenantless: bool = False

    @property
    def is_all(self) -> bool:
        return self.tenant is ALL_TENANTS

    @property
    def slug(self) -> str | None:
        return None if self.is_all else self.tenant  # type: ignore[return-value]

    def restrict(self, queryset: QuerySet, field: str = "tenant") -> QuerySet:
        """``queryset`` narrowed to this scope by its tenant column ``field``."""
        if self.is_all:
            return queryset
        # The prefix condition is what the tenant indexes answer (absurd_core/index_keys.py).
        condition = tenant_q(self.slug, field)
        if self.tenantless:
            condition |= Q(**{f"{field}__isnull": True}) | Q(**{field: ""})
        return queryset.filter(condition)


def tenant_filter(scope: TenantScope, *, exact: bool = True) -> tuple[sql.Composable, list]:
    """The SQL condition on an engine task row's ``headers->>'tenant'`` for ``scope``,
    with its parameters. ``exact=False``: by the index prefix alone
    (index_keys.text_prefix_equals), for bounds only, never for what a scope may see."""
    if scope.is_all:
        return sql.SQL("true"), []
    # The prefix condition is what our ac_tenant_pfx_ index answers (absurd_core/index_keys.py).
    equals = text_equals if exact else text_prefix_equals
    where, params = equals("headers->>'tenant'", scope.slug)
    if scope.tenantless:
        # A platform principal's scope: also tasks spawned without a tenant header.
        # Each alternative can use the tenant index (a coalesce() could not).
        where = sql.SQL("(({}) or headers->>'tenant' is null or headers->>'tenant' = '')").format(
            where
        )
    return where, params


def union_over_queues(
    queues: Iterable[str], part: Callable[[str], tuple[sql.Composable, list]]
) -> tuple[sql.Composable, list]:
    """One statement over every queue's tables: ``part(queue)`` gives that queue's select
    and its parameters (it names its tables with ``sql.Identifier(f"t_{queue}")`` and the
    like, never by formatting); they are joined with ``union all``, parameters in order.

    The one "for each queue, union all over ``t_<queue>``" loop of the reads; the caller
    checks that there is at least one queue.
    """
    parts, params = [], []
    for queue in queues:
        query, values = part(queue)
        parts.append(query)
        params.extend(values)
    return sql.SQL(" union all ").join(parts), params
