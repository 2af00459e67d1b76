"""Who may see and do what on the dashboard: one decorator for every view, in one order.

Every view is decorated the same way, the HTTP method first (a wrong method is a 405
whoever asks), then the access::

    @require_safe                      # or @require_POST for a change
    @dashboard_view(Action.OPERATE)    # login, principal, role
    def view(request, ...): ...

``@dashboard_view()`` requires a login and a principal (the active tenant, or all
tenants for platform staff) and puts it on ``request.principal``. A user who
belongs to no tenant gets the page that says so (403). ``@dashboard_view(Action.OPERATE)``
also requires the role. ``tenant_required=False`` is for the few views that have
something to show (or their own answer) without a tenant: the overview, the tenant
switch and the approvals page; there ``request.principal`` may be None, and the
role is checked only when there is one. CSRF is on for every POST.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from tenants.permissions import Action
from tenants.resolution import principal_for_user


def dashboard_view(action: Action = Action.VIEW, *, tenant_required: bool = True):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            principal = principal_for_user(request.user, request.session)
            if principal is None and tenant_required:
                return render(request, "dashboard/no_tenant.html", status=403)
            if principal is not None and not principal.can(action):
                raise PermissionDenied(f"The {principal.role} role may not {action.value}.")
            request.principal = principal
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
