from django.urls import NoReverseMatch, reverse

from plugins.base import installed_plugins
from tenants.permissions import Action
from tenants.resolution import SESSION_KEY, administrable, choices, principal_for_user


def navigation(request):
    """Navigation entries contributed by plugins, resolved to URLs."""
    entries = []
    for plugin in installed_plugins():
        for entry in plugin.nav_entries:
            try:
                entries.append({"label": entry.label, "url": reverse(entry.url_name)})
            except NoReverseMatch:
                continue
    return {"plugin_nav": entries}


def tenant_switcher(request):
    """The tenants the logged-in user may switch to, and the active one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "tenant_choices": choices(user),
        "active_tenant": request.session.get(SESSION_KEY, ""),
    }


def nav_access(request):
    """Which navigation entries the user can use: Settings only for a tenant's admins (and,
    in "all tenants", for those who administer some tenant: it leads to a tenant picker)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    principal = principal_for_user(user, request.session)
    if principal is None:
        return {"show_settings": False}
    if principal.scope.is_all:
        return {"show_settings": bool(administrable(user))}
    return {"show_settings": principal.can(Action.ADMIN)}
