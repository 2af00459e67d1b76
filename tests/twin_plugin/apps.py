from plugins.base import PluginConfig


class TwinConfig(PluginConfig):
    """Takes the demo plugin's name."""

    name = "tests.twin_plugin"
    label = "twin_plugin"
    plugin_name = "demo"
