"""docs/authoring.md runs: its file blocks are written, in order, into a throwaway project
whose tests then pass with pytest in a subprocess (tests/throwaway.py)."""

import re
from pathlib import Path

from tests.helpers import ROOT
from tests.throwaway import run_pytest, write_project

TUTORIAL = ROOT / "docs" / "authoring.md"
#: A fenced block whose first line is a comment naming a file: ``# expenses/tasks.py``.
FILE_BLOCK = re.compile(r"```(?:python|ini)\n# ([\w./-]+)\n(.*?)```", re.S)


def tutorial_files() -> dict[str, str]:
    """Each named file: its blocks in the order the tutorial shows them, joined."""
    files: dict[str, str] = {}
    for name, body in FILE_BLOCK.findall(TUTORIAL.read_text()):
        files[name] = files.get(name, "") + ("\n\n" if name in files else "") + body
    return files


def test_the_tutorial_names_the_files_a_plugin_and_its_tests_need():
    files = tutorial_files()
    assert set(files) == {
        "expenses/__init__.py",
        "expenses/apps.py",
        "expenses/tasks.py",
        "pytest.ini",
        "tests/test_expenses.py",
    }
    # Every task the plugin declares is one the tutorial registers.
    declared = re.search(r"tasks = \(([^)]*)\)", files["expenses/apps.py"]).group(1)
    registered = re.findall(
        r'@(?:task\("|django_task\(.*task_name=")([\w.]+)"', files["expenses/tasks.py"]
    )
    assert sorted(re.findall(r'"([\w.]+)"', declared)) == sorted(registered)
    # The sections the issue asks for: children, a schedule, Django's API with run_after.
    tasks = files["expenses/tasks.py"]
    tests = files["tests/test_expenses.py"]
    for needle in ("ctx.spawn_children(", "ctx.await_children(", "except ChildFailed"):
        assert needle in tasks
    assert "schedules=[REPORT]" in tasks and "ScheduleSpec(" in tasks
    assert "absurd.tick_schedules()" in tests
    assert "using(run_after=" in tests and "absurd.advance" in tests


def test_the_tutorials_code_runs_and_its_tests_pass(tmp_path: Path):
    files = tutorial_files()
    project = write_project(tmp_path, files)
    tests = re.findall(r"^def (test_\w+)", files["tests/test_expenses.py"], re.M)
    assert len(tests) >= 10
    result = run_pytest(
        project,
        "-rA",
        "tests",
        apps="plugins.email_notify,expenses",
        database="test_absurd_control_tutorial",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{len(tests)} passed" in output, output
    for test in tests:
        assert f"PASSED tests/test_expenses.py::{test}" in output, output
