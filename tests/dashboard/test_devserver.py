"""What `make run` runs: devserver migrates, bootstraps, serves and stops cleanly."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from absurd_core import engine
from plugins.demo.bootstrap import bootstrap_demo
from tests.helpers import ROOT, manage, subprocess_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_bootstrap_is_idempotent():
    first = bootstrap_demo()
    second = bootstrap_demo()
    assert first.password and second.password is None
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert first.spawned == 6 and second.spawned == 0  # with one demo.fan_out (n = 20)
    assert "demo" in engine.list_queues()
    user = get_user_model().objects.get(username="admin")
    assert user.check_password(first.password)
    assert user.memberships.get().tenant.slug == "demo"


def test_bootstrap_command_prints_the_password_once():
    first = manage("bootstrap_demo")
    second = manage("bootstrap_demo")
    assert first.returncode == second.returncode == 0
    assert "Log in as admin with password " in first.stdout
    assert "password was shown on the first run" in second.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return None


def test_devserver_serves_login_runs_the_worker_and_stops_on_ctrl_c():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "devserver", "--addrport", f"127.0.0.1:{port}"],
        cwd=ROOT,
        # The production default of PLUGINS (no demo): devserver adds the demo plugin itself.
        # No BASE_URL: derived from the address (issue 19 item 10). Email printed, as make run's.
        env={
            **subprocess_env(
                DEBUG="true",
                PLUGINS="plugins.email_notify,plugins.metrics",
                EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
            ),
            "BASE_URL": "",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/login/") == 200, timeout=60)
        # The worker drains the demo workflows it was given.
        wait_for(_first_demo_task_completed, timeout=30)
        # And the fan-out it was given: 20 children of demo.square, summed (issue 17).
        assert wait_for(_fan_out_result, timeout=60) == {"n": 20, "sum": 2470}
        # The demo expense approval's email went out (printed by the worker).
        wait_for(_approval_emailed, timeout=60)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            # SIGTERM first: devserver stops its web server and worker, which run in their
            # own sessions; left behind, they would keep the test database open for the rest
            # of the run. SIGKILL only if it does not stop.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 0, output
    assert "Log in as admin" in output
    assert "worker.stop" in output
    assert "Stopped." in output
    # BASE_URL follows the address: the banner and the emailed approval link name this port.
    assert f"Open http://127.0.0.1:{port}/" in output
    assert f"http://127.0.0.1:{port}/approvals/" in output
    assert "127.0.0.1:8000" not in output
    assert _get(f"http://127.0.0.1:{port}/login/") is None


def _approval_emailed():
    from approvals.models import ApprovalToken

    return ApprovalToken.objects.filter(notified_at__isnull=False).exists()


def _first_demo_task_completed():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select to_regclass('absurd.t_demo') is not null")
        if not cursor.fetchone()[0]:
            return False
        # Keys are stored per tenant: "<tenant>/<key>" (absurd_core.spawning).
        cursor.execute(
            "select state from absurd.t_demo where idempotency_key like '%/bootstrap:two_steps:1'"
        )
        row = cursor.fetchone()
    return row is not None and row[0] == "completed"


def _fan_out_result():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select completed_payload from absurd.t_demo"
            " where idempotency_key like '%/bootstrap:fan_out' and state = 'completed'"
        )
        row = cursor.fetchone()
    return engine.load_json(row[0]) if row else None


def test_the_demo_plugin_is_off_in_production_by_default():
    # A clean environment, as a production process gets it: no PLUGINS, production settings.
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": subprocess_env()["DATABASE_URL"],
    }
    code = (
        "import django; django.setup();"
        "from django.conf import settings; from absurd_core import registry;"
        "print(sorted(settings.PLUGINS));"
        "print([app for app in settings.INSTALLED_APPS if 'demo' in app]);"
        "print([spec.name for spec in registry if spec.name.startswith('demo.')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['plugins.email_notify', 'plugins.metrics']",
        "[]",
        "[]",
    ]
    # Named explicitly, it is there (what devserver and the test settings do).
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "PLUGINS": "plugins.demo"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines()[1:] == [
        "['plugins.demo']",
        "['demo.crunch', 'demo.django_two_steps', 'demo.expense_approval', 'demo.fan_out', "
        "'demo.flaky', 'demo.sleep', 'demo.square', 'demo.two_steps', 'demo.two_steps_async', "
        "'demo.wait_event']",
    ], result.stderr
