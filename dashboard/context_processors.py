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
    in "all tenants", for those who administer some tenant: it leads to a tenant picker).

    Lazy (a callable the template calls): htmx partials, which never draw the navigation
    bar, pay no query for it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def show_settings() -> bool:
        principal = principal_for_user(user, request.session)
        if principal is None:
            return False
        if principal.scope.is_all:
            return bool(administrable(user))
        return principal.can(Action.ADMIN)

    return {"show_settings": show_settings}
