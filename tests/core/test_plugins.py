"""The plugin contract: discovery, declarations, and broken plugins stopping start-up."""

import subprocess
import sys

from plugins.base import installed_plugins
from plugins.discovery import discover_plugin_apps
from tests.helpers import ROOT, manage, subprocess_env


class FakeEntryPoint:
    def __init__(self, value):
        self.value = value


def _entry_points(*values):
    def entry_points(group):
        assert group == "absurd_control.plugins"
        return [FakeEntryPoint(v) for v in values]

    return entry_points


def test_configured_and_entry_point_plugins_are_merged_without_duplicates(monkeypatch):
    monkeypatch.setattr(
        "plugins.discovery.entry_points", _entry_points("acme_plugin", "plugins.demo")
    )
    apps = discover_plugin_apps(["plugins.demo", "tests.fixtures.apps.testapp"])
    assert apps == ["plugins.demo", "tests.fixtures.apps.testapp", "acme_plugin"]


def test_entry_point_plugins_are_found_when_not_configured(monkeypatch):
    monkeypatch.setattr("plugins.discovery.entry_points", _entry_points("acme_plugin"))
    assert discover_plugin_apps([]) == ["acme_plugin"]


def test_an_installed_package_entry_point_is_really_read(tmp_path):
    """A distribution on sys.path with the entry point is found by the real lookup."""
    dist = tmp_path / "acme_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[absurd_control.plugins]\nacme = acme_plugin\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from plugins.discovery import discover_plugin_apps;"
        "print(discover_plugin_apps([]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert "'acme_plugin'" in out.stdout, out.stderr


def test_plugins_command_lists_plugins_and_contributions():
    result = manage("plugins")
    assert result.returncode == 0, result.stderr
    assert "demo 0.1.0 (plugins.demo)" in result.stdout
    tasks = (
        "tasks: demo.django_two_steps, demo.expense_approval, demo.fan_out, demo.flaky, demo.sleep,"
        " demo.square, demo.two_steps, demo.two_steps_async, demo.wait_event"
    )
    assert tasks in result.stdout
    assert "api: /api/v1/plugins/demo/" in result.stdout


def test_installed_plugins_declare_name_version_and_contributions():
    plugins = {p.plugin_name: p for p in installed_plugins()}
    demo = plugins["demo"]
    assert demo.plugin_version == "0.1.0"
    assert "demo.two_steps" in demo.tasks
    assert demo.api_router == "plugins.demo.api.router"
    assert "testapp" in plugins


def test_a_plugin_whose_tasks_fail_to_import_stops_startup_naming_it():
    env = subprocess_env(PLUGINS="plugins.demo,tests.fixtures.apps.broken_plugin")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert (
        "App 'tests.fixtures.apps.broken_plugin': importing its tasks module failed"
        in result.stderr
    )
    assert "broken on purpose" in result.stderr


def test_a_plugin_declaring_unregistered_tasks_stops_startup():
    env = subprocess_env(PLUGINS="plugins.demo,tests.fixtures.apps.liar_plugin")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Plugin 'liar' declares tasks it does not register: liar.missing" in result.stderr


def test_two_plugins_with_one_name_stop_startup():
    env = subprocess_env(PLUGINS="plugins.demo,tests.fixtures.apps.twin_plugin")
    result = manage("check", env=env)
    assert result.returncode != 0
    message = (
        "Plugin name 'demo' is declared by both 'plugins.demo' and "
        "'tests.fixtures.apps.twin_plugin'; "
        "plugin names must be unique."
    )
    assert message in result.stderr, result.stderr
