from plugins.base import PluginConfig


class DemoConfig(PluginConfig):
    name = "plugins.demo"
    label = "demo"
    verbose_name = "Demo workflows"
    plugin_name = "demo"
    plugin_version = "0.1.0"
    tasks = (
        "demo.two_steps",
        "demo.django_two_steps",
        "demo.two_steps_async",
        "demo.wait_event",
        "demo.sleep",
        "demo.flaky",
        "demo.expense_approval",
        "demo.fan_out",
        "demo.square",
    )
    api_router = "plugins.demo.api.router"
