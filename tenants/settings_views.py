"""Tenant settings for the tenant's admins: API keys, members, rate limits.

Thin views over tenants.administration, which checks the role and the tenant.
Another tenant's id is a 404; a non-admin gets 403.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants import administration as admin
from tenants.forms import KeyForm, LimitsForm, MemberForm, RoleForm
from tenants.resolution import administrable, principal_for_user


def _principal(request):
    principal = principal_for_user(request.user, request.session)
    if principal is None:
        raise PermissionDenied("You are not a member of any tenant.")
    return principal


#: The key just created, between the POST and the page that shows it once.
NEW_KEY_SESSION = "absurd_control.new_api_key"


def _render(request, principal, *, key_form=None, member_form=None, limits_form=None, status=200):
    new_key = request.session.pop(NEW_KEY_SESSION, None) if request.method == "GET" else None
    return render(
        request,
        "tenants/settings.html",
        {
            "tenant": admin.admin_tenant(principal),
            "new_key": new_key,
            "keys": admin.keys(principal),
            "members": admin.members(principal),
            "roles": admin.Role.choices,
            "key_form": key_form or KeyForm(),
            "member_form": member_form or MemberForm(),
            "limits_form": limits_form
            or LimitsForm(
                instance=admin.limits(principal),
                platform_admin=admin.is_platform_admin(request.user),
            ),
        },
        status=status,
    )


@login_required
def settings_page(request):
    principal = _principal(request)
    if principal.scope.is_all:
        # "All tenants" has no settings of its own: pick the tenant to manage (issue 19).
        tenants = administrable(request.user)
        if not tenants:
            raise PermissionDenied(
                "Settings belong to one tenant, and you are admin of none: ask a tenant's "
                "admin, or a platform admin."
            )
        return render(request, "tenants/settings_picker.html", {"tenants": tenants})
    return _render(request, principal)


@login_required
@require_POST
def create_key(request):
    principal = _principal(request)
    form = KeyForm(request.POST)
    if form.is_valid():
        try:
            issued = admin.create_key(principal, created_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Shown once, in a panel that stays until dismissed (not a toast): kept in the
            # session only until the page after this redirect takes it out.
            request.session[NEW_KEY_SESSION] = {"name": issued.api_key.name, "key": issued.key}
            return redirect("tenants:settings")
    return _render(request, principal, key_form=form, status=400)


def _apply(request, action, success: str):
    try:
        action()
    except ObjectDoesNotExist:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return redirect("tenants:settings")


@login_required
@require_POST
def revoke_key(request, key_id: int):
    principal = _principal(request)
    return _apply(request, lambda: admin.revoke(principal, key_id), "Key revoked.")


@login_required
@require_POST
def add_member(request):
    principal = _principal(request)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _render(request, principal, member_form=form, status=400)
    return _apply(
        request, lambda: admin.add_member(principal, **form.cleaned_data), "Member added."
    )


@login_required
@require_POST
def change_member(request, membership_id: int):
    principal = _principal(request)
    if request.POST.get("remove"):
        return _apply(
            request, lambda: admin.remove_member(principal, membership_id), "Member removed."
        )
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("tenants:settings")
    return _apply(
        request,
        lambda: admin.set_role(principal, membership_id, form.cleaned_data["role"]),
        "Role changed.",
    )


@login_required
@require_POST
def update_limits(request):
    principal = _principal(request)
    form = LimitsForm(
        request.POST,
        instance=admin.limits(principal),
        platform_admin=admin.is_platform_admin(request.user),
    )
    if not form.is_valid():
        return _render(request, principal, limits_form=form, status=400)
    form.save()
    messages.success(request, "Limits saved.")
    return redirect("tenants:settings")
