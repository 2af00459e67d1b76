"""GET /metrics: the Prometheus text exposition, behind a token or the loopback interface.

The metrics add up every tenant's queues, so they are platform data:

- with ``METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <METRICS_TOKEN>``
  (401 otherwise, whatever the client's address);
- without it, nobody is served unless DEBUG is on (local development): a logged-in
  tenant user on the same host, or every client behind a reverse proxy there, would
  otherwise look like a local scraper. With DEBUG, only loopback clients (127.0.0.0/8,
  ::1) are served, and not when the request carries a proxy's forwarding header (403).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from plugins.metrics.collector import registry

logger = logging.getLogger(__name__)

PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _text(status: int, message: str, **headers: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def refusal(request) -> HttpResponse | None:
    """The 401/403 answer for a client that may not scrape, or None."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="metrics"'}
        if scheme.lower() != "bearer" or not given.strip():
            return _text(
                401, "Metrics need the header 'Authorization: Bearer <METRICS_TOKEN>'.", **challenge
            )
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _text(401, "The metrics token is wrong.", **challenge)
        return None
    if not settings.DEBUG:
        return _text(
            403,
            "Metrics cover every tenant, so they need METRICS_TOKEN: set it, and send "
            "'Authorization: Bearer <METRICS_TOKEN>' when scraping.",
        )
    if any(request.META.get(h) for h in PROXY_HEADERS):
        return _text(
            403,
            "Metrics without METRICS_TOKEN are served only to loopback clients, and this "
            "request came through a proxy. Set METRICS_TOKEN to scrape through a proxy.",
        )
    if not _is_loopback(request.META.get("REMOTE_ADDR")):
        return _text(
            403,
            "Metrics without METRICS_TOKEN are served only to loopback clients. Set "
            "METRICS_TOKEN and send 'Authorization: Bearer <METRICS_TOKEN>' to scrape remotely.",
        )
    return None


@require_safe
def metrics(request):
    refused = refusal(request)
    if refused is not None:
        return refused
    try:
        body = generate_latest(registry)
    except DatabaseError as exc:
        logger.warning("metrics: scrape failed: %s", exc)
        return _text(503, "Metrics are unavailable: the database query failed.")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
