from django import forms

from tenants.administration import LIMIT_FIELDS, TENANT_ADMIN_LIMIT_FIELDS, platform_default
from tenants.api_scopes import SCOPES
from tenants.models import Membership, RateLimitPolicy


class KeyForm(forms.Form):
    name = forms.CharField(max_length=200)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.OPERATOR)
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {text}") for name, text in SCOPES.items()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: everything the role allows.",
    )
    expires_at = forms.DateTimeField(required=False, help_text="Optional, e.g. 2027-01-31 18:00.")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class LimitsForm(forms.ModelForm):
    """All limit fields for platform admins; for a tenant's own admins, the three numbers,
    each at most the platform default."""

    class Meta:
        model = RateLimitPolicy
        fields = LIMIT_FIELDS

    def __init__(self, *args, platform_admin: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.ceiling = None
        if not platform_admin:
            for name in set(LIMIT_FIELDS) - set(TENANT_ADMIN_LIMIT_FIELDS):
                del self.fields[name]
            self.ceiling = platform_default()
            for name in TENANT_ADMIN_LIMIT_FIELDS:
                self.fields[
                    name
                ].help_text = f"At most {getattr(self.ceiling, name)} (the platform default)."

    def clean(self):
        cleaned = super().clean()
        if self.ceiling is not None:
            for name in TENANT_ADMIN_LIMIT_FIELDS:
                value, limit = cleaned.get(name), getattr(self.ceiling, name)
                if value is not None and value > limit:
                    self.add_error(name, f"At most {limit}: only platform admins set more.")
        return cleaned
