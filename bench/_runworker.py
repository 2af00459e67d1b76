"""``manage.py runworker`` for benchmarks: prints worker.ready once claiming, no per-task lines."""

import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class Ready(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        if message.startswith("worker.start"):
            print("worker.ready", flush=True)
        return not message.startswith(("task.", "schedule."))


def hot_path_off() -> None:
    """BENCH_HOT_PATH=off: the worker as before issue 20 (bench/hot_path.py's baseline)."""
    from absurd_core.worker import runner, statistics
    from absurd_core.worker.context import TenantEventRules

    TenantEventRules._cache_is_complete = lambda self, name: False  # always look up
    runner.claim_now = lambda free, buffered, batch: free > 0  # claim at every wake-up
    statistics.StatisticsWatch.noticed = lambda self, queue: None


def main() -> None:
    import django

    django.setup()
    if os.environ.get("BENCH_HOT_PATH") == "off":
        hot_path_off()
    logging.getLogger("absurd_core.worker").addFilter(Ready())
    logging.getLogger("absurd_core.schedules").addFilter(Ready())
    from django.core.management import call_command

    call_command("runworker", *sys.argv[1:])


if __name__ == "__main__":
    main()
