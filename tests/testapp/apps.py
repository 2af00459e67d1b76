from plugins.base import PluginConfig


class TestAppConfig(PluginConfig):
    """Tasks the test suite needs in worker subprocesses (loaded via PLUGINS)."""

    name = "tests.testapp"
    label = "testapp"
    plugin_name = "testapp"
    plugin_version = "0"
    tasks = (
        "test.count_steps",
        "test.sleep_then_finish",
        "test.pause_between_steps",
        "test.sleep_for",
        "test.raise_system_exit",
        "test.heartbeat_loop",
        "test.always_fail",
        "test.complete",
        "test.sleep_long",
        "test.wait_event",
        "test.mixed_ours",
        "test.external_charge",
    )
