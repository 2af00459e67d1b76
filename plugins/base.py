"""What a plugin declares: name, version and contributions.

A plugin's AppConfig subclasses :class:`PluginConfig` and sets the class
attributes it needs. Tasks are discovered from its ``tasks`` module like every
other installed app's; the declaration names the task names so that
``manage.py plugins`` and start-up checks can verify them.

Every dotted path a plugin declares (API router, URLconf, notifiers, panel
context functions, lifecycle listeners) is imported in ``ready()``: a plugin
that names something it cannot import stops start-up with its name in the
message, instead of failing on the first request that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class NavEntry:
    """A dashboard navigation link: a label and a URL name (reversed at render time)."""

    label: str
    url_name: str


@dataclass(frozen=True)
class Panel:
    """A card on the dashboard overview.

    ``template`` is rendered (with the request, so context processors run) with
    ``principal`` and ``scope`` plus whatever ``context`` (a dotted path to
    ``f(request, principal) -> dict``) returns.
    A panel that raises is shown as failed; it never breaks the overview.
    """

    title: str
    template: str
    context: str | None = None


class PluginConfig(AppConfig):
    # Django picks an app module's AppConfig automatically only when exactly one
    # candidate is marked default. This base class, imported into the plugin's
    # apps.py, must not be a candidate; every subclass is one unless it says no.
    default = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "default" not in cls.__dict__:
            cls.default = True

    plugin_name: str = ""
    plugin_version: str = "0"
    #: Names of the tasks the plugin registers (checked against the registry).
    tasks: tuple[str, ...] = ()
    nav_entries: tuple[NavEntry, ...] = ()
    #: Cards on the dashboard overview.
    panels: tuple[Panel, ...] = ()
    #: Dotted path to a URLconf module; mounted under /plugins/<plugin_name>/ with the
    #: plugin name as its namespace, for pages behind a navigation entry.
    urls: str | None = None
    #: (path, dotted URLconf) pairs mounted at the site root, ahead of the project's own
    #: URLs, for endpoints outside tools look for at a fixed path (Prometheus: ``metrics``).
    root_urls: tuple[tuple[str, str], ...] = ()
    #: Dotted path to a ``ninja.Router``; mounted under /api/v1/plugins/<plugin_name>/.
    api_router: str | None = None
    #: Dotted paths to approvals.notifiers.Notifier subclasses, used for every request.
    approval_notifiers: tuple[str, ...] = ()
    #: Dotted paths to callables ``f(event: absurd_core.listeners.LifecycleEvent)``, fed
    #: from the task event log after commit, at least once (absurd_core/listeners.py).
    lifecycle_listeners: tuple[str, ...] = ()
    #: Recurring schedules of the plugin's tasks: ``absurd_core.ScheduleSpec`` objects or
    #: dicts of its fields, each naming its ``task`` (docs/schedules.md).
    schedules: tuple[Any, ...] = ()

    def ready(self) -> None:
        if not self.plugin_name:
            raise ImproperlyConfigured(f"Plugin app {self.name!r} does not declare plugin_name.")
        # The name is a URL namespace and an API prefix: two plugins cannot share it.
        twin = next((p for p in installed_plugins() if p.plugin_name == self.plugin_name), self)
        if twin is not self:
            raise ImproperlyConfigured(
                f"Plugin name {self.plugin_name!r} is declared by both {twin.name!r} and "
                f"{self.name!r}; plugin names must be unique."
            )
        for what, path in self._declared_paths():
            self._import(what, path)

    def _declared_paths(self) -> list[tuple[str, str]]:
        paths = [("api_router", self.api_router), ("urls", self.urls)]
        paths += [("urls", module) for _, module in self.root_urls]
        paths += [("approval_notifiers", p) for p in self.approval_notifiers]
        paths += [("lifecycle_listeners", p) for p in self.lifecycle_listeners]
        paths += [("panels", p.context) for p in self.panels]
        return [(what, path) for what, path in paths if path]

    def _import(self, what: str, path: str) -> Any:
        try:
            if what == "urls":
                from importlib import import_module

                return import_module(path)
            return import_string(path)
        except Exception as exc:
            raise ImproperlyConfigured(
                f"Plugin {self.plugin_name!r}: cannot import {what} {path!r}: {exc!r}"
            ) from exc

    def load_api_router(self):
        return self._import("api_router", self.api_router) if self.api_router else None

    def load_listeners(self) -> list[tuple[str, Any]]:
        return [
            (path, self._import("lifecycle_listeners", path)) for path in self.lifecycle_listeners
        ]


def installed_plugins() -> list[PluginConfig]:
    return [cfg for cfg in apps.get_app_configs() if isinstance(cfg, PluginConfig)]


def plugin_named(name: str) -> PluginConfig | None:
    return next((p for p in installed_plugins() if p.plugin_name == name), None)
