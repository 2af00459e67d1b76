"""Failed authentications are rate-limited per source (API keys and the login form).

Each failure takes a token from the source's bucket (the same SQL token
bucket as spawn limits, keyed ``auth:<address>``; a tenant slug never contains
a colon). While the bucket is empty, every attempt from that source is refused
with 429 before any key or password is checked, so guessing costs time.
"""

from __future__ import annotations

from django.db import connection

#: One failure every 5 s on average, with 10 allowed in a burst.
FAILURE_RATE = 0.2
FAILURE_BURST = 10.0


def source_of(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy
    # rewrites it (set SECURE_PROXY_SSL_HEADER and a proxy-aware middleware for that).
    return f"auth:{request.META.get('REMOTE_ADDR', 'unknown')}"


def retry_after(source: str) -> float:
    """Seconds this source must wait before its next attempt; 0 when it may try."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select absurd_control_spawn_wait(%s, %s, %s, 1)",
            [source, FAILURE_RATE, FAILURE_BURST],
        )
        wait = cursor.fetchone()[0]
    return float(wait or 0)


def record_failure(source: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "select absurd_control_take_spawn_tokens(%s, %s, %s, 1)",
            [source, FAILURE_RATE, FAILURE_BURST],
        )
