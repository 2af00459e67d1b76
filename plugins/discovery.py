"""Find plugin apps before Django starts (settings need them for INSTALLED_APPS).

A plugin is a Django app named in the ``PLUGINS`` setting or registered in the
``absurd_control.plugins`` entry point group, whose value is the app's module
path (``plugins.demo``) or AppConfig path.
"""

from __future__ import annotations

from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "absurd_control.plugins"


def discover_plugin_apps(configured: list[str]) -> list[str]:
    """The configured plugins first, then entry-point plugins, without duplicates."""
    found: list[str] = []
    for app in [*configured, *(ep.value for ep in entry_points(group=ENTRY_POINT_GROUP))]:
        if app not in found:
            found.append(app)
    return found
