from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.api_keys import issue_key
from tenants.api_scopes import SCOPES
from tenants.models import Membership, Tenant


class Command(BaseCommand):
    help = "Create an API key for a tenant; the full key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument(
            "--role", default=Membership.Role.OPERATOR, choices=Membership.Role.values
        )
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            help="Limit the key to this scope (repeatable; default: all its role allows). "
            f"One of: {', '.join(sorted(SCOPES))}.",
        )

    def handle(self, *args, tenant, name, role, scopes, **options):
        found = Tenant.objects.filter(slug=tenant, active=True).first()
        if found is None:
            raise CommandError(f"No active tenant {tenant!r}. Create it with create_tenant.")
        if not name.strip():
            raise CommandError("--name must not be empty.")
        try:
            issued = issue_key(found, name.strip(), role=role, scopes=scopes)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        prefix = f"ac_{issued.api_key.prefix}"
        self.stdout.write(
            f"Created {role} key {name!r} for tenant {found.slug} (prefix {prefix})."
            " Store it now: it is not shown again."
        )
        self.stdout.write(issued.key)
