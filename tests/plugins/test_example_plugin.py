"""The example plugin (tests/fixtures/example_plugin), installed for real with pip.

It is built and installed into a directory of its own, like a site-packages, and
the project runs in subprocesses with that directory on PYTHONPATH: the plugin
is then found through its ``absurd_control.plugins`` entry point, not through the
PLUGINS setting. Its contributions are exercised in a pytest run inside such a
subprocess (checks/in_process.py), with a test database of its own.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.base import plugin_named
from tests.helpers import ROOT, manage, subprocess_env

FIXTURE = ROOT / "tests" / "fixtures" / "example_plugin"
IN_PROCESS = FIXTURE / "checks" / "in_process.py"
DOCS = ROOT / "docs" / "plugins.md"


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """The directory pip installed the example plugin into (its code and its dist-info)."""
    if not _can_build_wheels_offline():
        pytest.fail(
            "Building the example plugin offline needs the `wheel` package (setuptools "
            "< 70.1 has no bdist_wheel of its own): install the dev extra, "
            "`pip install -e '.[dev]'` (make test does).",
            pytrace=False,
        )
    work = tmp_path_factory.mktemp("example_plugin")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = work / "source"
    shutil.copytree(FIXTURE, source, ignore=shutil.ignore_patterns("checks", "__pycache__"))
    installed = work / "site"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--disable-pip-version-check", "--target", str(installed)),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return installed


def _can_build_wheels_offline() -> bool:
    """setuptools builds wheels itself from 70.1 on; older ones need the wheel package."""
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def env_with(target: Path, **extra: str) -> dict[str, str]:
    """A manage.py environment where the plugin is installed (on PYTHONPATH), not configured."""
    env = subprocess_env(**extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH")) if p)
    assert "acme_example" not in env["PLUGINS"]
    return env


def test_pip_installs_the_package_its_templates_and_its_entry_point(target):
    assert (target / "acme_example" / "apps.py").is_file()
    assert (target / "acme_example" / "templates" / "acme_example" / "index.html").is_file()
    (dist,) = target.glob("absurd_control_example-0.1.0.dist-info")
    entry_points = (dist / "entry_points.txt").read_text()
    assert "[absurd_control.plugins]\nexample = acme_example" in entry_points


def test_without_the_package_the_plugin_is_not_there():
    assert plugin_named("example") is None
    assert "example 0.1.0" not in manage("plugins").stdout


def test_plugins_command_lists_it_with_every_contribution(target):
    result = manage("plugins", env=env_with(target))
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("example 0.1.0 (acme_example)\n", 1)[1]
    assert listing.startswith(
        "  tasks: example.greet\n"
        "  navigation: Example -> example:index\n"
        "  panels: Greetings\n"
        "  pages: /plugins/example/\n"
        "  api: /api/v1/plugins/example/\n"
        "  notifiers: acme_example.notifiers.RecordingNotifier\n"
        "  listeners: acme_example.listeners.on_event\n"
    ), result.stdout
    assert "demo 0.1.0 (plugins.demo)" in result.stdout  # configured plugins stay


@pytest.mark.django_db  # against the migrated test database: the schema check passes too
def test_check_passes_with_the_plugin_installed(target):
    result = manage("check", env=env_with(target))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stderr


def test_its_contributions_work_in_a_project_that_loads_it_at_start_up(target):
    env = env_with(
        target,
        EXAMPLE_PLUGIN_TARGET=str(target),
        # The outer run's test database is in use: the inner run gets one of its own.
        TEST_DATABASE_NAME="test_absurd_control_example_plugin",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(IN_PROCESS), "-p", "no:cacheprovider", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output and "skipped" not in output, output


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "BadRouterConfig",
            "Plugin 'bad_router': cannot import api_router "
            "'tests.fixtures.apps.unimportable_plugin.missing.router'",
        ),
        (
            "BadUrlsConfig",
            "Plugin 'bad_urls': cannot import urls "
            "'tests.fixtures.apps.unimportable_plugin.missing_urls'",
        ),
        (
            "BadListenerConfig",
            "Plugin 'bad_listener': cannot import lifecycle_listeners "
            "'tests.fixtures.apps.unimportable_plugin.listeners.nowhere'",
        ),
        (
            "BadNotifierConfig",
            "Plugin 'bad_notifier': cannot import approval_notifiers "
            "'tests.fixtures.apps.unimportable_plugin.NoSuchNotifier'",
        ),
        (
            "BadPanelConfig",
            "Plugin 'bad_panel': cannot import panels "
            "'tests.fixtures.apps.unimportable_plugin.no_context'",
        ),
    ],
)
def test_a_declared_path_that_does_not_import_stops_check_naming_the_plugin(config, message):
    env = subprocess_env(
        PLUGINS=f"plugins.demo,tests.fixtures.apps.unimportable_plugin.apps.{config}"
    )
    result = manage("check", env=env)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_the_docs_show_every_file_of_the_example_plugin_as_it_is():
    shown = dict(
        re.findall(r"<!-- example-file: (\S+) -->\n```\w*\n(.*?)\n```\n", DOCS.read_text(), re.S)
    )
    files = {
        relative.as_posix()
        for relative in (path.relative_to(FIXTURE) for path in FIXTURE.rglob("*") if path.is_file())
        if relative.parts[0] != "checks" and "__pycache__" not in relative.parts
    }
    assert set(shown) == files
    for path, code in shown.items():
        assert code == (FIXTURE / path).read_text().rstrip("\n"), f"docs/plugins.md: {path} differs"
