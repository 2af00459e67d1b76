"""The X-Absurd-Signature header: ``t=<unix time>,v1=<hex HMAC-SHA256>``.

The HMAC is over ``"<t>.<raw body>"`` with WEBHOOK_NOTIFY_SECRET as key, as
Stripe does: a receiver recomputes it over the exact bytes it received,
compares in constant time, and rejects a ``t`` too far from its own clock, so
a captured request cannot be replayed later. docs/notifiers.md has a
stand-alone snippet for receivers; ``verify`` here is the same check.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Absurd-Signature"
#: How old (or how far in the future) a signature ``verify`` accepts, in seconds.
TOLERANCE = 300


def signature(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed now (or at ``timestamp``)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(body, secret, timestamp)}"


def verify(
    header: str, body: bytes, secret: str, *, tolerance: int = TOLERANCE, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(body, secret, timestamp)
    return any(
        hmac.compare_digest(expected, value)
        for key, value in (item.split("=", 1) for item in header.split(","))
        if key == "v1"
    )
