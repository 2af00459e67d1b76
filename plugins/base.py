"""What a plugin declares: name, version and contributions.

A plugin's AppConfig subclasses :class:`PluginConfig` and sets the class
attributes it needs. Tasks are discovered from its ``tasks`` module like every
other installed app's; the declaration names the task names so that
``manage.py plugins`` and start-up checks can verify them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class NavEntry:
    """A dashboard navigation link: a label and a URL name (reversed at render time)."""

    label: str
    url_name: str


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
    #: Dotted path to a ``ninja.Router``; mounted under /api/v1/plugins/<plugin_name>/.
    api_router: str | None = None
    #: Dotted paths to approvals.notifiers.Notifier subclasses, used for every request.
    approval_notifiers: tuple[str, ...] = ()

    def ready(self) -> None:
        if not self.plugin_name:
            raise ImproperlyConfigured(f"Plugin app {self.name!r} does not declare plugin_name.")

    def load_api_router(self):
        if not self.api_router:
            return None
        try:
            return import_string(self.api_router)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Plugin {self.plugin_name!r}: cannot import api_router {self.api_router!r}: {exc}"
            ) from exc


def installed_plugins() -> list[PluginConfig]:
    return [cfg for cfg in apps.get_app_configs() if isinstance(cfg, PluginConfig)]
