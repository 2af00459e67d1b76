from plugins.base import PluginConfig


class BrokenConfig(PluginConfig):
    name = "tests.broken_plugin"
    label = "broken_plugin"
    plugin_name = "broken"
