from django.core.management.base import BaseCommand
from django.utils import timezone

from absurd_core.queries.workers import workers_for
from absurd_core.tenancy import ALL_TENANTS, TenantScope


class Command(BaseCommand):
    help = (
        "List runworker processes: alive, dead (silent for three heartbeats) or stopped; "
        "and external workers (other Absurd clients) holding claims now."
    )

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
            status = "external" if w.external else w.status
            self.stdout.write(
                f"{w.worker_id:<32} {status:<8} {','.join(w.queues):<24} {_n(w.concurrency):>4} "
                f"{_n(w.in_flight):>9} {_n(w.processed):>9} {_n(w.failed):>7} {seen:>10}"
            )


def _n(value: int | None) -> str:
    """External workers report no counters of their own: '-'."""
    return "-" if value is None else str(value)
