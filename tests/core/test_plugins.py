"""The plugin contract: discovery, declarations, and broken plugins stopping start-up."""

from plugins.base import installed_plugins
from plugins.discovery import discover_plugin_apps
from tests.helpers import manage, subprocess_env


def test_configured_and_entry_point_plugins_are_merged_without_duplicates():
    # plugins.demo is both configured and registered as an entry point (pyproject).
    apps = discover_plugin_apps(["plugins.demo", "tests.testapp"])
    assert apps.count("plugins.demo") == 1
    assert apps[:2] == ["plugins.demo", "tests.testapp"]


def test_entry_point_plugins_are_found_when_not_configured():
    assert "plugins.demo" in discover_plugin_apps([])


def test_installed_plugins_declare_name_version_and_contributions():
    plugins = {p.plugin_name: p for p in installed_plugins()}
    demo = plugins["demo"]
    assert demo.plugin_version == "0.1.0"
    assert "demo.two_steps" in demo.tasks
    assert demo.api_router == "plugins.demo.api.router"
    assert "testapp" in plugins


def test_a_plugin_whose_tasks_fail_to_import_stops_startup_naming_it():
    env = subprocess_env(PLUGINS="plugins.demo,tests.broken_plugin")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "App 'tests.broken_plugin': importing its tasks module failed" in result.stderr
    assert "broken on purpose" in result.stderr


def test_a_plugin_declaring_unregistered_tasks_stops_startup():
    env = subprocess_env(PLUGINS="plugins.demo,tests.liar_plugin")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Plugin 'liar' declares tasks it does not register: liar.missing" in result.stderr
