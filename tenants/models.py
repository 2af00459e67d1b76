"""Tenants and who belongs to them (roles), their API keys and spawn-rate policies."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from tenants.api_scopes import validate_scopes, validate_scopes_for

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use 1-63 lowercase letters, digits and inner hyphens.",
)


class Tenant(models.Model):
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    #: Platform tenants run bootstrap and maintenance work; their members may see all tenants.
    is_platform = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        OPERATOR = "operator", "Operator"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_unique")
        ]
        ordering = ["tenant__slug"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class ApiKey(models.Model):
    """A tenant's key for the JSON API: ``ac_<prefix>_<secret>``.

    Only the prefix (to find the row) and a SHA-256 of the whole key are stored.
    The key carries 256 random bits, so a fast hash is enough and keeps every
    API request cheap; the comparison is constant-time.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.OPERATOR
    )
    #: Empty: every operation the role allows. Otherwise only these (tenants/api_scopes.py).
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scopes])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant__slug", "name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name} (ac_{self.prefix}_…)"

    def clean(self) -> None:
        # The admin's form runs this; issue_key checks the same for every other path.
        if self.tenant_id is not None and isinstance(self.scopes, list):
            validate_scopes_for(self.tenant, self.scopes)


class RateLimitPolicy(models.Model):
    """Limits for one tenant, or the platform default (the row without a tenant).

    A tenant without a row gets the default row, never "unlimited". Platform
    tenants are exempt. Enforcement is in SQL (tenants/sql/, tenants/limits.py).
    """

    tenant = models.OneToOneField(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="rate_limit"
    )
    spawn_rate = models.FloatField(
        default=50.0, help_text="Spawns per second, refilled continuously (token bucket)."
    )
    spawn_burst = models.PositiveIntegerField(
        default=100, help_text="Bucket size: spawns allowed at once after a quiet period."
    )
    spawn_fail_open = models.BooleanField(
        default=False,
        help_text="When the limiter's storage fails: allow spawns (open) or refuse them.",
    )
    max_running = models.PositiveIntegerField(
        default=50,
        help_text="Runs of the tenant executing at once, across all workers and queues.",
    )
    concurrency_fail_open = models.BooleanField(
        default=True,
        help_text="When the concurrency limiter's storage fails: run the task (open) or defer it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(tenant__isnull=True),
                name="rate_limit_one_default",
            ),
            models.CheckConstraint(
                condition=models.Q(spawn_rate__gt=0), name="rate_limit_positive_rate"
            ),
            models.CheckConstraint(
                condition=models.Q(spawn_burst__gte=1), name="rate_limit_positive_burst"
            ),
            models.CheckConstraint(
                condition=models.Q(max_running__gte=1), name="rate_limit_positive_running"
            ),
        ]

    def __str__(self) -> str:
        return f"limits for {self.tenant.slug if self.tenant else 'platform default'}"
