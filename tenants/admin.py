from django.contrib import admin, messages

from tenants.api_keys import issue_key, revoke_key
from tenants.models import ApiKey, Membership, RateLimitPolicy, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_platform", "active", "created_at"]
    list_filter = ["is_platform", "active"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
        revoked = sum(revoke_key(key) for key in queryset)
        messages.success(request, f"Revoked {revoked} key(s).")


@admin.register(RateLimitPolicy)
class RateLimitPolicyAdmin(admin.ModelAdmin):
    """The row without a tenant is the platform default; platform tenants are exempt."""

    list_display = ["__str__", "spawn_rate", "spawn_burst", "spawn_fail_open", "updated_at"]
    autocomplete_fields = ["tenant"]
