"""What a tenant's admins manage: API keys, members and rate limits.

Every function takes the acting principal, requires the admin role, and only
touches rows of the principal's own tenant: another tenant's id raises
DoesNotExist, exactly as an id that does not exist. Views and tests call these.

Roles granted here are roles in the acting tenant only, and a role's powers come
from the membership acted through (tenants/resolution.py): an ordinary tenant's
admin who makes a platform viewer admin of their tenant grants nothing on the
platform. A platform tenant's members and keys are managed only by its own admins.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from tenants.api_keys import IssuedKey, issue_key, revoke_key
from tenants.models import ApiKey, Membership, RateLimitPolicy, Tenant
from tenants.permissions import Action, Principal

Role = Membership.Role


def admin_tenant(principal: Principal) -> Tenant:
    """The tenant the principal administers; "all tenants" must pick one first."""
    principal.require(Action.ADMIN)
    if principal.scope.is_all:
        raise PermissionDenied("Choose one tenant in the switcher to manage its settings.")
    tenant = Tenant.objects.get(slug=principal.scope.slug, active=True)
    if tenant.is_platform and not principal.platform:
        # A platform tenant's members and keys are platform roles: only a principal acting
        # through that tenant grants them (principal_for_user always marks it platform).
        raise PermissionDenied("Only platform admins grant platform roles.")
    return tenant


# -- API keys ------------------------------------------------------------------


def keys(principal: Principal):
    return ApiKey.objects.filter(tenant=admin_tenant(principal)).order_by("-created_at")


def create_key(
    principal: Principal,
    *,
    name: str,
    role: str,
    scopes: list[str],
    expires_at: datetime | None,
    created_by,
) -> IssuedKey:
    tenant = admin_tenant(principal)
    if not name.strip():
        raise ValidationError("The key needs a name.")
    return issue_key(
        tenant, name.strip(), role=role, scopes=scopes, expires_at=expires_at, created_by=created_by
    )


def revoke(principal: Principal, key_id: int) -> bool:
    return revoke_key(keys(principal).get(pk=key_id))


# -- members -------------------------------------------------------------------


def members(principal: Principal):
    return (
        Membership.objects.filter(tenant=admin_tenant(principal))
        .select_related("user")
        .order_by("user__username")
    )


def _keep_an_admin(tenant: Tenant, leaving: Membership) -> None:
    others = Membership.objects.filter(tenant=tenant, role=Role.ADMIN).exclude(pk=leaving.pk)
    if leaving.role == Role.ADMIN and not others.exists():
        raise ValidationError("A tenant keeps at least one admin.")


def add_member(principal: Principal, *, username: str, role: str) -> Membership:
    tenant = admin_tenant(principal)
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise ValidationError(f"No user named {username.strip()!r}.")
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    membership, created = Membership.objects.get_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
    if not created:
        raise ValidationError(f"{user.get_username()} is already a member ({membership.role}).")
    return membership


def set_role(principal: Principal, membership_id: int, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    with transaction.atomic():
        membership = members(principal).select_for_update().get(pk=membership_id)
        if role != Role.ADMIN:
            _keep_an_admin(membership.tenant, membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def remove_member(principal: Principal, membership_id: int) -> None:
    with transaction.atomic():
        membership = members(principal).select_for_update().get(pk=membership_id)
        _keep_an_admin(membership.tenant, membership)
        membership.delete()


# -- rate limits ----------------------------------------------------------------

LIMIT_FIELDS = (
    "spawn_rate",
    "spawn_burst",
    "spawn_fail_open",
    "max_running",
    "concurrency_fail_open",
)


#: What a tenant's own admins may change, never above the platform default: limits also
#: protect the other tenants. The fail-open flags stay with platform admins.
TENANT_ADMIN_LIMIT_FIELDS = ("spawn_rate", "spawn_burst", "max_running")


def is_platform_admin(user) -> bool:
    """Superusers and admins of a platform tenant: they may set any tenant's limits freely."""
    return (
        user.is_superuser
        or Membership.objects.filter(
            user=user, role=Role.ADMIN, tenant__is_platform=True, tenant__active=True
        ).exists()
    )


def platform_default() -> RateLimitPolicy:
    return RateLimitPolicy.objects.filter(tenant__isnull=True).first() or RateLimitPolicy()


def limits(principal: Principal) -> RateLimitPolicy:
    """The tenant's own policy, or an unsaved copy of the platform default to start from."""
    tenant = admin_tenant(principal)
    own = RateLimitPolicy.objects.filter(tenant=tenant).first()
    if own is not None:
        return own
    default = platform_default()
    return RateLimitPolicy(tenant=tenant, **{f: getattr(default, f) for f in LIMIT_FIELDS})
