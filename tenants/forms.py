from django import forms

from tenants.administration import LIMIT_FIELDS
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
    class Meta:
        model = RateLimitPolicy
        fields = LIMIT_FIELDS
