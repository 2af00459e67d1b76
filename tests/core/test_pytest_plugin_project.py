"""The pytest plugin used from a throwaway project (its own conftest.py and tests, pytest in
a subprocess): drain, emit, and a 3-day approval expiry passed through at once."""

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from tests.throwaway import run_pytest, write_project

TASKS = """
    from datetime import timedelta

    from absurd_core import task
    from approvals.workflow import request_approval


    @task("myflows.expense", queue="expenses")
    def expense(params, ctx):
        amount = ctx.step("validate", lambda: int(params["amount"]))
        ctx.sleep_for("cooling-off", 3600)
        receipt = ctx.await_event(f"receipt:{params['ref']}")
        decision = request_approval(
            ctx,
            f"Expense of {amount}",
            approvers=["boss@example.com"],
            expires_in=timedelta(days=3),
        )
        return {"amount": amount, "receipt": receipt, "outcome": decision.outcome}


    @task("myflows.broken", queue="expenses", max_attempts=1)
    def broken(params, ctx):
        ctx.step("fine", lambda: 1)
        return {"customer": {}["missing-customer"]}
"""

CONFTEST = '''
    import pytest


    @pytest.fixture
    def expense_for(absurd):
        """The project's own fixture, built on the plugin's."""
        from myflows.tasks import expense

        def spawn(amount, ref):
            return absurd.spawn(expense, {"amount": amount, "ref": ref}, tenant="acme")

        return spawn
'''

TEST_EXPENSES = """
    from datetime import timedelta


    def test_a_three_day_expiry_passes_at_once(absurd, expense_for, mailoutbox):
        started = expense_for(120, "r1")
        assert [r.status for r in absurd.drain()] == ["suspended"]  # the cooling-off hour
        absurd.advance(3600)
        absurd.drain()
        assert absurd.result(started).state == "sleeping"  # waiting for the receipt
        absurd.emit("receipt:r1", {"total": 120}, tenant="acme")
        ran = absurd.drain()
        assert {r.task_name for r in ran} == {"myflows.expense", "approvals.deliver"}
        assert [m.to for m in mailoutbox] == [["boss@example.com"]]
        (request,) = absurd.approval_requests(started)
        assert request.state == "pending"
        absurd.advance(timedelta(days=3))
        absurd.drain()
        result = absurd.result(started)
        assert result.state == "completed"
        assert result.result == {"amount": 120, "receipt": {"total": 120}, "outcome": "expired"}
        assert absurd.history(started)[-1] == "completed"
        print("EXPIRY-PASSED")


    def test_an_approval_resumes_the_workflow(absurd, expense_for):
        started = expense_for(80, "r2")
        absurd.emit("receipt:r2", "ok", tenant="acme")
        absurd.drain()
        absurd.advance(3600)
        absurd.drain()
        (request,) = absurd.approval_requests(started)
        absurd.approve(request.pk, "boss@example.com", comment="fine")
        absurd.drain()
        assert absurd.result(started).result["outcome"] == "approved"
"""

TEST_BROKEN = """
    def test_a_broken_task(absurd):
        from myflows.tasks import broken

        absurd.spawn(broken, {}, tenant="acme")
        absurd.drain()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("throwaway")
    return write_project(
        root,
        {
            "myflows/__init__.py": "",
            "myflows/tasks.py": TASKS,
            "conftest.py": CONFTEST,
            "test_expenses.py": TEST_EXPENSES,
            "broken/test_broken.py": TEST_BROKEN,
        },
    )


def test_the_plugin_drains_emits_and_passes_a_three_day_expiry(project):
    result = run_pytest(
        project,
        "-s",
        "test_expenses.py",
        apps="plugins.email_notify,myflows",
        database="test_absurd_control_pytest_plugin",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "2 passed" in output and "EXPIRY-PASSED" in output, output


def test_a_failing_task_shows_its_traceback_in_the_report(project):
    result = run_pytest(
        project,
        "broken",
        apps="plugins.email_notify,myflows",
        database="test_absurd_control_pytest_plugin",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed" in output
    assert "TaskFailed: Task myflows.broken" in output
    assert "KeyError: 'missing-customer'" in output
    assert "absurd: failed task runs" in output  # the report section, with the traceback
    assert 'return {"customer": {}["missing-customer"]}' in output


def test_the_entry_point_is_installed_and_loading_it_sets_up_nothing():
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "absurd_control"]
    assert plugin.value == "absurd_control_pytest.plugin"
    # pytest loads it before Django is configured: it must import neither Django's
    # settings nor the project (a test that does not ask for the fixture sees no change).
    probe = (
        "import sys, absurd_control_pytest.plugin as p; "
        "assert hasattr(p, 'absurd'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'absurd_core', 'approvals', 'config')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={}
    )
    assert result.stdout.strip() == "[]"
