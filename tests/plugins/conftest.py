"""A real HTTP receiver for webhooks, and the plugin tests' shared helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from absurd_core import engine
from tests.approvals.conftest import make_request  # noqa: F401  (a fixture used here too)
from tests.helpers import subprocess_env

SECRET = "whsec-test-0123456789"
LISTENER = "plugins.webhook_notify.listeners.dead_letters"
WITH_WEBHOOKS = (
    "plugins.email_notify,plugins.demo,tests.fixtures.apps.testapp,plugins.webhook_notify"
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self):
        return json.loads(self.body)


class Receiver:
    """Webhooks POSTed to http://127.0.0.1:<port>/hook, answered from ``statuses`` then 200."""

    def __init__(self):
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, status)
                    )
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver is down")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait(self, count: int, timeout: float = 30) -> list[Received]:
        """The first ``count`` requests, once that many arrived (AssertionError after timeout)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} of {count} webhooks in {timeout}s")
            return self.requests[:count]


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def webhooks_queue(db):
    """A clean ``webhooks`` queue (other tests may have left deliveries in it)."""
    engine.drop_queue("webhooks")
    engine.create_queue("webhooks")
    yield "webhooks"


def worker_env(receiver_url: str = "", **extra: str) -> dict[str, str]:
    """A runworker environment with the webhook plugin installed and pointed at the receiver."""
    return subprocess_env(
        PLUGINS=WITH_WEBHOOKS,
        WEBHOOK_NOTIFY_URL=receiver_url,
        WEBHOOK_NOTIFY_SECRET=SECRET,
        **extra,
    )


def webhook_tasks() -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id, state, attempts, params, headers from absurd.t_webhooks"
            " order by enqueue_at"
        )
        columns = [c.name for c in cursor.description]
        return [
            {
                k: engine.load_json(v) if k in ("params", "headers") else v
                for k, v in zip(columns, row, strict=True)
            }
            for row in cursor.fetchall()
        ]


def verify(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """The receiver's check, as docs/notifiers.md shows it (independent of the plugin's code)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False  # too old: a replay (or a clock far off)
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
