"""Sending one webhook: spawn the durable delivery task, or POST it now.

``spawn_delivery`` is what the notifier and the listener call: it spawns
``webhook_notify.deliver`` on the queue ``webhooks`` with the webhook's id as
idempotency key, so a repeat (a listener fed the same event twice, an
approval step re-run) finds the existing task instead of sending again. The
task calls ``post``, which raises on anything but a 2xx answer, so Absurd
retries it with exponential backoff.

The receiver's URL and the secret are read when the POST is made, never
stored with the task; error messages name the HTTP status, not the URL (a
Slack webhook URL is itself a secret).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from absurd_core import SpawnResult, spawn
from plugins.webhook_notify import signing
from plugins.webhook_notify.conf import WebhookSettings

QUEUE = "webhooks"
TASK = "webhook_notify.deliver"
MAX_ATTEMPTS = 10
#: 2 s, 4 s, 8 s, ... at most 10 minutes between attempts: about 17 minutes in all.
RETRY = {"kind": "exponential", "base_seconds": 2, "factor": 2, "max_seconds": 600}
USER_AGENT = "absurd-control-webhook/1"


class WebhookFailed(Exception):
    """The receiver did not take the webhook (non-2xx, no answer, connection refused)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would be turned into a GET without the body and count as sent.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def post(payload: dict[str, Any], config: WebhookSettings) -> int:
    """POST ``payload`` as signed JSON; return the status, or raise WebhookFailed."""
    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Absurd-Event": str(payload.get("type", "")),
        "X-Absurd-Delivery": str(payload.get("id", "")),
    }
    if config.secret:
        headers[signing.HEADER] = signing.sign(body, config.secret)
    if urlsplit(config.url).scheme not in ("http", "https"):
        raise WebhookFailed("WEBHOOK_NOTIFY_URL is not an http:// or https:// URL")
    # The scheme is checked just above (urllib would also open file:// URLs).
    request = urllib.request.Request(config.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=config.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        detail = one_line_body(exc)
        raise WebhookFailed(
            f"the receiver answered HTTP {exc.code}{': ' + detail if detail else ''}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookFailed(
            f"the receiver could not be reached or did not answer: {reason}"
        ) from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"the receiver answered HTTP {status}")
    return status


def one_line_body(error: urllib.error.HTTPError, limit: int = 200) -> str:
    try:
        text = error.read(limit).decode("utf-8", "replace")
    except Exception:
        return ""
    return " ".join(text.split())[:limit]


def spawn_delivery(payload: dict[str, Any], *, tenant: str) -> SpawnResult:
    """Spawn the delivery task once per webhook id (the payload's ``id``)."""
    return spawn(
        TASK,
        {"payload": payload},
        tenant=tenant,
        queue=QUEUE,
        idempotency_key=payload["id"],
        max_attempts=MAX_ATTEMPTS,
        retry_strategy=RETRY,
    )
