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
from tenants.models import ApiKey, Membership, Tenant
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


def _staff_tenants(user, memberships: list[Membership]) -> dict[str, Tenant]:
    """Active tenants platform staff may act as without being a member (none for others).

    Platform staff (superusers, members of a platform tenant: those who may choose "all
    tenants") reach every ordinary tenant from the switcher, with their all-tenants role
    there and no platform powers; a membership, where there is one, wins (its role, not the
    wider one). A platform tenant is acted as only through a membership of it.
    """
    if not _all_tenants_role(user, memberships):
        return {}
    own = {m.tenant.slug for m in memberships}
    return {
        t.slug: t
        for t in Tenant.objects.filter(active=True, is_platform=False)
        .exclude(slug__in=own)
        .order_by("slug")
    }


def choices(user) -> list[Choice]:
    """What the tenant switcher offers this user: their tenants, and for platform staff
    "all tenants" first and every other active tenant after their own."""
    memberships = _memberships(user)
    options = [Choice(m.tenant.slug, m.tenant.name) for m in memberships]
    if _all_tenants_role(user, memberships):
        options.insert(0, Choice(ALL, "All tenants"))
        options += [Choice(t.slug, t.name) for t in _staff_tenants(user, memberships).values()]
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
    if all_role and chosen and chosen != ALL:
        staff_tenant = _staff_tenants(user, memberships).get(chosen)
        if staff_tenant is not None:
            # Platform staff acting as an ordinary tenant they do not belong to: their
            # all-tenants role in that tenant only, without platform powers.
            return Principal(TenantScope(staff_tenant.slug), all_role, label, platform=False)
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


def administrable(user) -> list[Choice]:
    """The tenants whose settings this user may manage (the settings page's tenant picker):
    where they act as admin, a platform tenant only through a membership of it."""
    if not user.is_authenticated:
        return []
    memberships = _memberships(user)
    own = {m.tenant.slug: m for m in memberships}
    all_role = _all_tenants_role(user, memberships)
    picked = [Choice(m.tenant.slug, m.tenant.name) for m in memberships if m.role == "admin"]
    if all_role == "admin":
        picked += [
            Choice(t.slug, t.name)
            for t in _staff_tenants(user, memberships).values()
            if t.slug not in own and not t.is_platform
        ]
    return picked
