from django.urls import NoReverseMatch, reverse

from plugins.base import installed_plugins


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
