from plugins.base import PluginConfig


class LiarConfig(PluginConfig):
    """Declares a task it never registers."""

    name = "tests.liar_plugin"
    label = "liar_plugin"
    plugin_name = "liar"
    tasks = ("liar.missing",)
