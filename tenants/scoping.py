"""Which tenants a principal may see. Every read takes a scope; there is no default.

``ALL_TENANTS`` is the explicit value platform staff pass to see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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

    @property
    def is_all(self) -> bool:
        return self.tenant is ALL_TENANTS

    @property
    def slug(self) -> str | None:
        return None if self.is_all else self.tenant  # type: ignore[return-value]
