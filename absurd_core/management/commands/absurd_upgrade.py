from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from absurd_core import schema
from absurd_core.errors import SchemaMismatch


class Command(BaseCommand):
    help = "Upgrade the Absurd schema to the pinned version with the migrations absurdctl bundles."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan without applying it."
        )

    def handle(self, *args, database, dry_run, **options):
        connection = connections[database]
        current = schema.status(connection)
        if current.missing:
            raise CommandError("No Absurd schema is installed; run `manage.py migrate` instead.")
        if current.matches:
            self.stdout.write(f"Absurd schema is already at {current.pinned}; nothing to do.")
            return
        try:
            if dry_run:
                names = [step["name"] for step in schema.upgrade_plan(current.installed)]
                self.stdout.write(f"Would apply: {', '.join(names) or '(nothing)'}")
                return
            applied = schema.upgrade(connection)
        except SchemaMismatch as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Upgraded Absurd schema {current.installed} -> {current.pinned} "
            f"({', '.join(applied) or 'no SQL needed'})."
        )
