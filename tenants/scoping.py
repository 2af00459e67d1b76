"""Deprecated (one release): tenant scoping moved to ``absurd_core.tenancy``.

Import ``TenantScope``, ``ALL_TENANTS`` and ``tenant_filter`` from there.
"""

from absurd_core.tenancy import ALL_TENANTS, TenantScope, tenant_filter

__all__ = ["ALL_TENANTS", "TenantScope", "tenant_filter"]
