"""``manage.py runworker``: run registered tasks until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import os
import signal

from django.core.management.base import BaseCommand, CommandError

from absurd_core import engine
from absurd_core.errors import AbsurdError
from absurd_core.queues import validate_queue_name
from absurd_core.registry import registry
from absurd_core.worker.runner import Worker, WorkerConfig, default_worker_id

logger = logging.getLogger("absurd_core.worker")


def _positive_int(name: str, raw: str, *, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise CommandError(f"--{name} must be a whole number, got {raw!r}.") from None
    if not 1 <= value <= maximum:
        raise CommandError(f"--{name} must be between 1 and {maximum}, got {value}.")
    return value


def _seconds(name: str, raw: str, *, minimum: float, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(f"--{name} must be a number of seconds, got {raw!r}.") from None
    if not minimum <= value <= maximum or value != value:
        raise CommandError(f"--{name} must be between {minimum:g} and {maximum:g} seconds.")
    return value


class Command(BaseCommand):
    help = "Run Absurd tasks registered in this project until SIGTERM/SIGINT."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            default=None,
            help="Queue to work (repeatable). Default: every queue with registered tasks.",
        )
        parser.add_argument("--concurrency", default="4", help="Execution threads (default 4).")
        parser.add_argument(
            "--batch", default=None, help="Max runs claimed at once (default: concurrency)."
        )
        parser.add_argument(
            "--claim-timeout", default="60", help="Lease length in seconds (default 60)."
        )
        parser.add_argument(
            "--poll-interval", default="1", help="Fallback poll interval, seconds (default 1)."
        )
        parser.add_argument(
            "--grace", default="30", help="Seconds in-flight tasks get at shutdown (default 30)."
        )
        parser.add_argument("--worker-id", default=None, help="Default: <host>:<pid>.")

    def handle(self, *args, **options):
        config = self._config(options)
        self._check_queues(config.queues, explicit=bool(options["queues"]))
        self._check_listen_session()
        worker = Worker(config, registry)
        self._install_signal_handlers(worker)
        worker.run()

    def _check_listen_session(self) -> None:
        """LISTEN needs a session: refuse a transaction-mode pooler (absurd_core/pooler.py)."""
        from absurd_core.pooler import PoolerNotSupported, require_listen_session
        from absurd_core.worker.connection import connect

        try:
            require_listen_session(lambda: connect(application_name="absurd-listen-probe"))
        except PoolerNotSupported as exc:
            raise CommandError(str(exc)) from exc

    def _config(self, options) -> WorkerConfig:
        queues = options["queues"] or registry.queues()
        if not queues:
            raise CommandError("No queues to work: no tasks are registered and no --queue given.")
        try:
            queues = list(dict.fromkeys(validate_queue_name(q) for q in queues))
        except AbsurdError as exc:
            raise CommandError(str(exc)) from exc
        concurrency = _positive_int("concurrency", options["concurrency"], maximum=256)
        worker_id = options["worker_id"] or default_worker_id()
        if not worker_id.strip() or len(worker_id) > 200:
            raise CommandError("--worker-id must be 1 to 200 characters.")
        return WorkerConfig(
            queues=queues,
            concurrency=concurrency,
            batch=_positive_int("batch", options["batch"], maximum=1000)
            if options["batch"] is not None
            else None,
            claim_timeout=_positive_int("claim-timeout", options["claim_timeout"], maximum=86400),
            poll_interval=_seconds(
                "poll-interval", options["poll_interval"], minimum=0.01, maximum=3600
            ),
            grace=_seconds("grace", options["grace"], minimum=0, maximum=3600),
            worker_id=worker_id,
        )

    def _check_queues(self, queues: list[str], *, explicit: bool) -> None:
        existing = set(engine.list_queues())
        for queue in queues:
            if queue in existing:
                continue
            if explicit and queue not in registry.queues():
                raise CommandError(
                    f"Queue {queue!r} does not exist. Create it first "
                    f"(absurdctl create-queue {queue}) or check the name."
                )
            engine.create_queue(queue)

    def _install_signal_handlers(self, worker: Worker) -> None:
        received = []

        def handle(signum, frame):
            # Record first: a second signal can arrive while this handler still runs.
            received.append(signum)
            if len(received) > 1:
                logger.warning("worker.exit second signal: exiting now")
                os._exit(1)
            worker.request_stop()
            logger.info("worker.stopping signal=%s grace=%ss", signum, worker.config.grace)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
