from django.conf import settings
from django.core.management.base import BaseCommand

from plugins.demo.bootstrap import bootstrap_demo

#: Run from the checkout, with make run's settings (the Makefile's `manage` target).
CHANGE_COMMAND = 'make manage ARGS="changepassword admin"'


class Command(BaseCommand):
    help = "Create the demo tenant, an admin user, the demo queue and a few demo workflows."

    def handle(self, *args, **options):
        result = bootstrap_demo()
        self.stdout.write(f"Open {settings.BASE_URL}/")
        if result.password:
            self.stdout.write(
                f"Log in as {result.username} with password {result.password} "
                f"(shown once; change it with `{CHANGE_COMMAND}`)."
            )
        else:
            self.stdout.write(f"Log in as {result.username} (password was shown on the first run).")
        self.stdout.write(f"Spawned {result.spawned} new demo workflow(s) on queue 'demo'.")
