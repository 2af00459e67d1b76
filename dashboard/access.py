"""Who may see and do what on the dashboard: one decorator for every view.

``@dashboard_view()`` requires a login and a principal (the active tenant, or all
tenants for platform staff) and puts it on ``request.principal``. A user who
belongs to no tenant gets the page that says so. ``@dashboard_view(Action.OPERATE)``
also requires the role; mutating views add ``require_POST`` (CSRF is on for them
as for every POST).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from tenants.permissions import Action
from tenants.resolution import principal_for_user


def dashboard_view(action: Action = Action.VIEW):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            principal = principal_for_user(request.user, request.session)
            if principal is None:
                return render(request, "dashboard/no_tenant.html", status=403)
            if not principal.can(action):
                raise PermissionDenied(f"The {principal.role} role may not {action.value}.")
            request.principal = principal
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
