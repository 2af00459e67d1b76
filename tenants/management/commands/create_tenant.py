from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create a tenant (idempotent for the same slug and settings)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default=None)
        parser.add_argument("--platform", action="store_true", help="A platform tenant.")

    def handle(self, *args, slug, name, platform, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is not None:
            if tenant.is_platform != platform:
                raise CommandError(
                    f"Tenant {slug!r} exists with platform={tenant.is_platform}; not changed."
                )
            self.stdout.write(f"Tenant {slug} already exists.")
            return
        tenant = Tenant(slug=slug, name=name or slug, is_platform=platform)
        try:
            tenant.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        tenant.save()
        kind = "platform tenant" if platform else "tenant"
        self.stdout.write(f"Created {kind} {slug}.")
