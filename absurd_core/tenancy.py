"""Which tenants a principal may see. Every read takes a scope; there is no default.

``ALL_TENANTS`` is the explicit value platform staff pass to see everything,
tasks without a tenant included. A one-tenant scope with ``tenantless`` also
covers what has no tenant: tasks spawned by other clients without a tenant
header (absurdctl, another SDK), and their event log, dead letters and audit.
Only a platform principal's scope has it (tenants.permissions.Principal); an
ordinary tenant never sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db.models import Q, QuerySet

from absurd_core.index_keys import tenant_q


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
