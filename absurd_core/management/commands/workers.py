from django.core.management.base import BaseCommand
from django.utils import timezone

from absurd_core.workers import workers_for
from tenants.scoping import ALL_TENANTS, TenantScope


class Command(BaseCommand):
    help = "List runworker processes: alive, dead (silent for three heartbeats) or stopped."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Include stopped workers.")

    def handle(self, *args, all, **options):
        # An operator's command on the server: platform scope, counters included.
        workers = workers_for(TenantScope(ALL_TENANTS), include_stopped=all)
        if not workers:
            self.stdout.write("No workers." if all else "No running workers (see --all).")
            return
        now = timezone.now()
        header = (
            f"{'WORKER':<32} {'STATUS':<8} {'QUEUES':<24} {'CONC':>4} {'IN-FLIGHT':>9} "
            f"{'PROCESSED':>9} {'FAILED':>7} {'LAST SEEN':>10}"
        )
        self.stdout.write(header)
        for w in workers:
            seen = f"{(now - w.last_seen).total_seconds():.0f}s ago"
            self.stdout.write(
                f"{w.worker_id:<32} {w.status:<8} {','.join(w.queues):<24} {w.concurrency:>4} "
                f"{w.in_flight:>9} {w.processed:>9} {w.failed:>7} {seen:>10}"
            )
