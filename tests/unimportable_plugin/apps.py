"""Plugins that declare a dotted path that does not import, one contribution each.

Referenced by AppConfig path in PLUGINS (tests.unimportable_plugin.apps.BadRouterConfig),
so none of them is the module's default AppConfig.
"""

from plugins.base import Panel, PluginConfig


class BadRouterConfig(PluginConfig):
    default = False
    name = "tests.unimportable_plugin"
    label = "bad_router_plugin"
    plugin_name = "bad_router"
    api_router = "tests.unimportable_plugin.missing.router"


class BadUrlsConfig(PluginConfig):
    default = False
    name = "tests.unimportable_plugin"
    label = "bad_urls_plugin"
    plugin_name = "bad_urls"
    urls = "tests.unimportable_plugin.missing_urls"


class BadListenerConfig(PluginConfig):
    default = False
    name = "tests.unimportable_plugin"
    label = "bad_listener_plugin"
    plugin_name = "bad_listener"
    lifecycle_listeners = ("tests.unimportable_plugin.listeners.nowhere",)


class BadNotifierConfig(PluginConfig):
    default = False
    name = "tests.unimportable_plugin"
    label = "bad_notifier_plugin"
    plugin_name = "bad_notifier"
    approval_notifiers = ("tests.unimportable_plugin.NoSuchNotifier",)


class BadPanelConfig(PluginConfig):
    default = False
    name = "tests.unimportable_plugin"
    label = "bad_panel_plugin"
    plugin_name = "bad_panel"
    panels = (Panel("Broken", "nowhere.html", context="tests.unimportable_plugin.no_context"),)
