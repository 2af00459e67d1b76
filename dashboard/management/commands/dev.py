"""``manage.py dev COMMAND [ARGS...]``: run a management command as ``make run``'s
processes run it, which is what ``make manage ARGS="..."`` does (with DEBUG=true).

The command runs in a child process with devserver's environment: the development plugins
(``DEV_PLUGINS``, the demo) added to ``PLUGINS``, so it knows the demo tasks and tenant as
the web server and the worker of ``make run`` do. Its exit status is passed on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from django.core.management.base import BaseCommand, CommandError

from dashboard.management.commands.devserver import demo_environment


class Command(BaseCommand):
    help = 'Run a management command with make run\'s settings (make manage ARGS="...").'
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("command_args", nargs=argparse.REMAINDER, metavar="COMMAND ...")

    def handle(self, *args, command_args, **options):
        if not command_args:
            raise CommandError('Name a command, e.g. make manage ARGS="changepassword admin".')
        result = subprocess.run(
            [sys.executable, "manage.py", *command_args], env=demo_environment()
        )
        if result.returncode:
            raise SystemExit(result.returncode)
