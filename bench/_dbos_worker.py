"""A DBOS worker for bench/peers.py: a workflow of two ``@DBOS.step``s on a queue.

``python bench/_dbos_worker.py URL CONCURRENCY`` launches DBOS on the system database URL,
registers the queue ``peers`` (``worker_concurrency`` CONCURRENCY, polled every 10 ms: the
shortest interval that keeps an idle worker's polling cheap) and ``peers_events`` (no
concurrency limit, for workflows parked in ``DBOS.recv``), and prints dbos.ready.
bench/peers.py enqueues with a DBOSClient, in one transaction, as the others spawn.
"""

from __future__ import annotations

import signal
import sys
import threading

from dbos import DBOS

POLL_SECONDS = 0.01


@DBOS.step(name="peers.increment")
def increment(i: int) -> int:
    return i + 1


@DBOS.step(name="peers.double")
def double(i: int) -> int:
    return i * 2


@DBOS.workflow(name="peers.two_steps")
def two_steps(i: int) -> int:
    return double(increment(i))


@DBOS.workflow(name="peers.wait_event")
def wait_event(topic: str) -> object:
    return DBOS.recv(topic, timeout_seconds=120)


def main() -> None:
    url, concurrency = sys.argv[1], int(sys.argv[2])
    DBOS(
        config={
            "name": "peers",
            "system_database_url": url,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 1.0,
        }
    )
    DBOS.launch()
    DBOS.register_queue("peers", worker_concurrency=concurrency, polling_interval_sec=POLL_SECONDS)
    DBOS.register_queue("peers_events", polling_interval_sec=POLL_SECONDS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("dbos.ready", flush=True)
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=0)


if __name__ == "__main__":
    main()
