"""The tenant switch in the navigation bar (POST): change the active tenant.

Only to one the user belongs to (or all, for platform staff); then back to the
form's ``next`` (a local path) or the overview.
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from dashboard.access import dashboard_view
from dashboard.next_url import safe_next
from tenants.resolution import switch_tenant


@require_POST
@dashboard_view(tenant_required=False)
def switch(request):
    if not switch_tenant(request.user, request.session, request.POST.get("tenant", "")):
        messages.error(request, "You cannot switch to that tenant.")
    return redirect(safe_next(request, "dashboard:overview"))


urlpatterns = [
    path("tenant", switch, name="switch_tenant"),
]
