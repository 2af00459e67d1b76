"""Resolve the current principal: a logged-in user's active tenant, or an API key's tenant.

A user who belongs to several tenants switches between them (kept in the
session); members of a platform tenant, and superusers, may also choose
"all tenants". The tenant never comes from a request header or parameter that
is not checked against the user's memberships.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenants.models import ApiKey, Membership
from tenants.permissions import Principal
from tenants.scoping import ALL_TENANTS, TenantScope

SESSION_KEY = "absurd_control.active_tenant"
ALL = "*"


@dataclass(frozen=True)
class Choice:
    value: str  # a tenant slug, or ALL
    label: str


def _memberships(user) -> list[Membership]:
    return list(
        Membership.objects.select_related("tenant")
        .filter(user=user, tenant__active=True)
        .order_by("tenant__slug")
    )


def _may_see_all(user, memberships: list[Membership]) -> bool:
    return user.is_superuser or any(m.tenant.is_platform for m in memberships)


def choices(user) -> list[Choice]:
    """What the tenant switcher offers this user."""
    memberships = _memberships(user)
    options = [Choice(m.tenant.slug, m.tenant.name) for m in memberships]
    if _may_see_all(user, memberships):
        options.insert(0, Choice(ALL, "All tenants"))
    return options


def principal_for_user(user, session) -> Principal | None:
    """The user's principal for this session, or None when they belong to no tenant."""
    if not user.is_authenticated:
        return None
    memberships = _memberships(user)
    may_see_all = _may_see_all(user, memberships)
    chosen = session.get(SESSION_KEY)
    by_slug = {m.tenant.slug: m for m in memberships}
    label = f"user:{user.get_username()}"
    if chosen in by_slug:
        membership = by_slug[chosen]
        return Principal(TenantScope(chosen), membership.role, label, platform=may_see_all)
    if may_see_all:
        # The widest role the user holds applies to "all tenants"; superusers are admins.
        role = "admin" if user.is_superuser else _widest(memberships)
        return Principal(TenantScope(ALL_TENANTS), role, label, platform=True)
    if memberships:
        first = memberships[0]
        return Principal(TenantScope(first.tenant.slug), first.role, label)
    return None


def switch_tenant(user, session, value: str) -> bool:
    """Make ``value`` (a slug or ALL) the active tenant if the user may; False otherwise."""
    if value not in {choice.value for choice in choices(user)}:
        return False
    session[SESSION_KEY] = value
    return True


def principal_for_api_key(api_key: ApiKey) -> Principal:
    return Principal(
        TenantScope(api_key.tenant.slug),
        api_key.role,
        f"key:{api_key.name}",
        platform=api_key.tenant.is_platform,
    )


def _widest(memberships: list[Membership]) -> str:
    order = ["viewer", "operator", "admin"]
    return max((m.role for m in memberships), key=order.index, default="viewer")
