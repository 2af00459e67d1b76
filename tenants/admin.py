"""The Django admin for tenants, memberships, API keys and limits.

Only platform admins grant platform roles, here as on the settings page: a staff
user who is not a platform admin (a superuser, or an admin of a platform tenant)
may not create, change or delete a platform tenant, its memberships or its keys,
nor mark a tenant as platform. Such rows are shown read-only to them.

Django's own user admin is guarded the same way, since a superuser is a platform admin and a
member of a platform tenant holds a platform role: only superusers change a superuser or grant
``is_superuser``, groups and permissions; only platform admins change (or set the password of)
a member of a platform tenant.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError

from tenants.administration import is_platform_admin
from tenants.api_keys import issue_key, revoke_key
from tenants.models import ApiKey, Membership, RateLimitPolicy, Tenant

PLATFORM_ONLY = "Only platform admins grant platform roles: {} is a platform tenant."


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    # ``obj`` is the tenant being edited.
    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and _may_touch(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _may_touch(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _may_touch(request, obj)


def _may_touch(request, tenant: Tenant | None) -> bool:
    """Whether the admin's user may change rows of ``tenant`` (None: not known yet)."""
    return tenant is None or not tenant.is_platform or is_platform_admin(request.user)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_platform", "active", "created_at"]
    list_filter = ["is_platform", "active"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if is_platform_admin(request.user) else [*fields, "is_platform"]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _may_touch(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _may_touch(request, obj)


class PlatformRoleGuard:
    """For models with a ``tenant``: rows of a platform tenant are for platform admins."""

    def has_change_permission(self, request, obj=None):
        tenant = obj.tenant if obj is not None else None
        return super().has_change_permission(request, obj) and _may_touch(request, tenant)

    def has_delete_permission(self, request, obj=None):
        tenant = obj.tenant if obj is not None else None
        return super().has_delete_permission(request, obj) and _may_touch(request, tenant)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if is_platform_admin(request.user):
            return form

        class Guarded(form):
            def clean(self):
                cleaned = super().clean()
                tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
                if tenant is not None and tenant.is_platform:
                    raise ValidationError(PLATFORM_ONLY.format(tenant.slug))
                return cleaned

        return Guarded


@admin.register(Membership)
class MembershipAdmin(PlatformRoleGuard, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(PlatformRoleGuard, admin.ModelAdmin):
    """Keys are issued here; the full key is shown once, in the message after saving."""

    list_display = [
        "name",
        "tenant",
        "role",
        "key_prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["tenant", "role"]
    search_fields = ["name", "prefix", "tenant__slug"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    fields = ["tenant", "name", "role", "scopes", "expires_at", *readonly_fields]
    actions = ["revoke"]

    @admin.display(description="prefix")
    def key_prefix(self, obj):
        return f"ac_{obj.prefix}_…" if obj.prefix else "-"

    def get_readonly_fields(self, request, obj=None):
        # The tenant of an existing key never changes: issue a new key instead.
        return [*self.readonly_fields, "tenant"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = issue_key(
            obj.tenant,
            obj.name,
            role=obj.role,
            scopes=obj.scopes,
            created_by=request.user,
            expires_at=obj.expires_at,
        )
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        messages.warning(
            request,
            f"API key created. Copy it now, it is not shown again: {issued.key}",
        )

    @admin.action(description="Revoke selected keys now")
    def revoke(self, request, queryset):
        if not is_platform_admin(request.user):
            queryset = queryset.exclude(tenant__is_platform=True)
        revoked = sum(revoke_key(key) for key in queryset)
        messages.success(request, f"Revoked {revoked} key(s).")


@admin.register(RateLimitPolicy)
class RateLimitPolicyAdmin(admin.ModelAdmin):
    """The row without a tenant is the platform default; platform tenants are exempt."""

    list_display = ["__str__", "spawn_rate", "spawn_burst", "spawn_fail_open", "updated_at"]
    autocomplete_fields = ["tenant"]


class PlatformGuardedUserAdmin(UserAdmin):
    """Django's user admin, minus the ways around "only platform admins grant platform roles"."""

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return [*fields, "is_superuser", "groups", "user_permissions"]

    def _may_touch_user(self, request, obj) -> bool:
        if obj is None:
            return True
        if obj.is_superuser and not request.user.is_superuser:
            return False
        platform_member = obj.memberships.filter(tenant__is_platform=True).exists()
        return not platform_member or is_platform_admin(request.user)

    # The password form checks has_change_permission too, so it is guarded with the rest.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_touch_user(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_touch_user(request, obj)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, PlatformGuardedUserAdmin)
