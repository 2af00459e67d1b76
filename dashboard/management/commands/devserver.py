"""``manage.py devserver``: what ``make run`` runs.

Migrates, runs the development set-up commands (``DEV_SETUP_COMMANDS``: the demo's
``bootstrap_demo``), then runs the web server and one worker as
child processes until Ctrl-C (or SIGTERM), and stops them cleanly. This
process holds the embedded database for its children, which attach to it.

The demo plugin is off by default (docs/deploy.md: it lets any operator spawn
demo tasks, one of which sends email). The development server turns it on for
its children, whatever ``PLUGINS`` says: they run with ``DEV_PLUGINS``
(config/settings.py: ``plugins.demo``) added to the configured plugins, so
``bootstrap_demo``, the web server and the worker all know the demo tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dashboard.dev_address import DEFAULT_ADDR, base_url_for, normalise_addrport

STOP_TIMEOUT = 15


def demo_environment() -> dict[str, str]:
    """This process's environment with the development plugins added to PLUGINS."""
    plugins = list(dict.fromkeys([*settings.PLUGINS, *settings.DEV_PLUGINS]))
    return {**os.environ, "PLUGINS": ",".join(plugins)}


def served_environment(addrport: str) -> dict[str, str]:
    """demo_environment, with BASE_URL derived from the address unless it is set
    (dashboard/dev_address.py): the banner and the emailed links name this server."""
    env = demo_environment()
    if not os.environ.get("BASE_URL"):
        env["BASE_URL"] = base_url_for(addrport)
    return env


class Command(BaseCommand):
    help = "Development: migrate, create demo data, run the web server and a worker."
    # Checks run after migrate: before it, a fresh database warns that the schema is missing.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--addrport",
            default=DEFAULT_ADDR,
            help="host:port or a port (make run ADDR=... or PORT=...); BASE_URL follows it "
            "unless set",
        )
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args, addrport, no_worker, **options):
        addrport = normalise_addrport(addrport)
        call_command("migrate", interactive=False, verbosity=0, skip_checks=True)
        self.check(display_num_errors=False)
        manage = [sys.executable, "manage.py"]
        env = served_environment(addrport)
        self.stdout.flush()
        for command in settings.DEV_SETUP_COMMANDS:
            if subprocess.run([*manage, command], env=env).returncode != 0:
                raise CommandError(f"{command} failed; see above.")
        # Children get their own sessions: a terminal Ctrl-C reaches only this
        # process, which then stops each child with exactly one SIGTERM.
        children = [
            subprocess.Popen(
                [*manage, "runserver", addrport, "--noreload", "--skip-checks"],
                env=env,
                start_new_session=True,
            )
        ]
        if not no_worker:
            children.append(
                subprocess.Popen(
                    [*manage, "runworker", "--concurrency", "2"],
                    env=env,
                    start_new_session=True,
                )
            )
        self.stdout.write(f"Serving {base_url_for(addrport)}/ (Ctrl-C stops everything).")
        self.stdout.flush()

        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.is_set():
            if any(child.poll() is not None for child in children):
                break
            stop.wait(0.5)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stdout.write("Stopped.")
