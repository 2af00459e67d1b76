"""Resolve the current principal: a logged-in user's active tenant, or an API key's tenant.

A user who belongs to several tenants switches between them (kept in the
session); members of a platform tenant, and superusers, may also choose
"all tenants". The tenant never comes from a request header or parameter that
is not checked against the user's memberships.

A principal's role is the role of the membership it acts through, nothing
wider (docs/tenants.md, "Roles"):

- acting as an ordinary tenant: that membership's role, no platform powers,
  whatever the user is elsewhere;
- acting as a platform tenant: that membership's role, with platform powers
  (queues every tenant shares), scoped to the platform tenant's own tasks;
- "all tenants": the role of the user's platform memberships (the widest, if
  several platform tenants), with platform powers; roles held in ordinary
  tenants never count. A superuser acting for all tenants is a platform admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tenants.models import ApiKey, Membership
from tenants.permissions import ROLE_ORDER, Principal

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


def _all_tenants_role(user, memberships: list[Membership]) -> str | None:
    """The role for "all tenants", or None when the user may not choose it.

    Only platform memberships count: a platform viewer who is admin of an ordinary
    tenant is a viewer of all tenants.
    """
    if user.is_superuser:
        return "admin"
    platform_roles = [m.role for m in memberships if m.tenant.is_platform]
    return max(platform_roles, key=ROLE_ORDER.index) if platform_roles else None


def choices(user) -> list[Choice]:
    """What the tenant switcher offers this user."""
    memberships = _memberships(user)
    options = [Choice(m.tenant.slug, m.tenant.name) for m in memberships]
    if _all_tenants_role(user, memberships):
        options.insert(0, Choice(ALL, "All tenants"))
    return options


def principal_for_user(user, session) -> Principal | None:
    """The user's principal for this session, or None when they belong to no tenant."""
    if not user.is_authenticated:
        return None
    memberships = _memberships(user)
    chosen = session.get(SESSION_KEY)
    by_slug = {m.tenant.slug: m for m in memberships}
    label = f"user:{user.get_username()}"
    if chosen in by_slug:
        return _acting_through(by_slug[chosen], label)
    all_role = _all_tenants_role(user, memberships)
    if all_role:
        return Principal(TenantScope(ALL_TENANTS), all_role, label, platform=True)
    if memberships:
        return _acting_through(memberships[0], label)
    return None


def _acting_through(membership: Membership, label: str) -> Principal:
    # Platform powers come from the membership acted through, never from the user's others.
    tenant = membership.tenant
    return Principal(TenantScope(tenant.slug), membership.role, label, platform=tenant.is_platform)


def switch_tenant(user, session, value: str) -> bool:
    """Make ``value`` (a slug or ALL) the active tenant if the user may; False otherwise."""
    if value not in {choice.value for choice in choices(user)}:
        return False
    session[SESSION_KEY] = value
    return True


def principal_for_api_key(api_key: ApiKey) -> Principal:
    """A key acts through its tenant with its own role: platform powers for a platform
    tenant's keys, never for an ordinary tenant's."""
    return Principal(
        TenantScope(api_key.tenant.slug),
        api_key.role,
        f"key:{api_key.name}",
        platform=api_key.tenant.is_platform,
    )
