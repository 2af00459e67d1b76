"""The pytest plugin (entry point ``pytest11``: ``absurd_control``).

It adds one fixture, ``absurd``, and nothing else runs unless a test asks for it:
this module imports neither Django nor the project at import time, and its report
hook only adds to reports of tests that used the fixture.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def absurd(db, request):
    """Run Absurd workflows in this test, in-process, on the test's database.

    Needs pytest-django (``db``): with the ``db`` fixture everything the tasks did
    is rolled back after the test; with ``transactional_db`` it is committed, and
    the clocks are reset after the test. See docs/authoring.md.
    """
    from absurd_control_pytest.client import AbsurdTestClient

    # A MonkeyPatch of its own: unfreeze() undoes the clocks, never the test's own patches.
    client = AbsurdTestClient(monkeypatch=pytest.MonkeyPatch())
    request.node._absurd_client = client
    yield client
    client.unfreeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    client = getattr(item, "_absurd_client", None)
    if client is not None and report.failed and client.failures:
        text = "\n\n".join(
            f"{ran.task_name} ({ran.task_id}) attempt {ran.attempt} on {ran.queue}:\n{tb}"
            for ran, tb in client.failures
        )
        report.sections.append(("absurd: failed task runs", text))
    return report
