"""Issue 19 item 10: make run on another address, BASE_URL derived from it when unset,
and `make manage ARGS=...`, the command the banner prints, which really runs."""

import re
import shlex
import subprocess

import pytest
from django.contrib.auth import get_user_model

from absurd_core import engine
from dashboard.dev_address import base_url_for, normalise_addrport
from dashboard.management.commands.devserver import served_environment
from tests.helpers import ROOT, manage, subprocess_env


@pytest.mark.parametrize(
    ("addrport", "url"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("8081", "http://127.0.0.1:8081"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("localhost:7000", "http://localhost:7000"),
        ("[::]:8000", "http://[::1]:8000"),
        ("", "http://127.0.0.1:8000"),
    ],
)
def test_base_url_for_an_address(addrport, url):
    assert base_url_for(addrport) == url


def test_a_bare_port_listens_on_loopback():
    assert normalise_addrport("8080") == "127.0.0.1:8080"
    assert normalise_addrport("example.org:1") == "example.org:1"


def test_base_url_is_derived_only_when_unset(monkeypatch):
    monkeypatch.delenv("BASE_URL", raising=False)
    assert served_environment("127.0.0.1:8080")["BASE_URL"] == "http://127.0.0.1:8080"
    monkeypatch.setenv("BASE_URL", "https://control.example.com")
    assert served_environment("127.0.0.1:8080")["BASE_URL"] == "https://control.example.com"


def _make_dry_run(*args):
    result = subprocess.run(
        ["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if "devserver" in line)


def test_make_run_takes_addr_or_port():
    assert _make_dry_run().endswith("devserver --addrport 127.0.0.1:8000")
    assert _make_dry_run("ADDR=127.0.0.1:8080").endswith("--addrport 127.0.0.1:8080")
    assert _make_dry_run("PORT=9001").endswith("--addrport 127.0.0.1:9001")


@pytest.fixture
def demo_queue_dropped_after():
    """bootstrap_demo's queue and tasks live outside Django's tables, which a transactional
    test flushes: drop them, or the next bootstrap finds its workflows already spawned."""
    yield
    engine.drop_queue("demo")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("demo_queue_dropped_after")
def test_the_banner_names_the_address_and_its_password_command_runs():
    env = {**subprocess_env(), "BASE_URL": "http://127.0.0.1:8080"}  # what devserver hands on
    banner = manage("bootstrap_demo", env=env)
    assert banner.returncode == 0, banner.stderr
    assert "Open http://127.0.0.1:8080/" in banner.stdout
    (command,) = re.findall(r"change it with `([^`]+)`", banner.stdout)
    # The command exactly as printed, from the checkout, without DEBUG=true by hand; the
    # new password twice on stdin (no terminal: getpass reads stdin).
    run_env = {k: v for k, v in subprocess_env().items() if k != "DEBUG"}
    result = subprocess.run(
        shlex.split(command),
        cwd=ROOT,
        env=run_env,
        input="Another-long-pass-42\nAnother-long-pass-42\n",
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Password changed successfully for user 'admin'" in result.stdout
    assert get_user_model().objects.get(username="admin").check_password("Another-long-pass-42")


@pytest.mark.django_db(transaction=True)
def test_make_manage_fails_with_one_line_for_a_bad_command():
    env = {k: v for k, v in subprocess_env().items() if k != "DEBUG"}
    result = subprocess.run(
        ["make", "-s", "manage", "ARGS=no_such_command"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Unknown command: 'no_such_command'" in result.stderr
