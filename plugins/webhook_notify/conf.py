"""The webhook plugin's settings (config/settings.py, from the environment)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger("plugins.webhook_notify")

_warned = threading.Event()


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str
    include_links: bool
    timeout: float
    #: Tenant for every delivery task; "" means the tenant the webhook is about.
    tenant: str


def current() -> WebhookSettings:
    return WebhookSettings(
        url=(getattr(settings, "WEBHOOK_NOTIFY_URL", "") or "").strip(),
        secret=getattr(settings, "WEBHOOK_NOTIFY_SECRET", "") or "",
        include_links=bool(getattr(settings, "WEBHOOK_NOTIFY_INCLUDE_LINKS", False)),
        timeout=float(getattr(settings, "WEBHOOK_NOTIFY_TIMEOUT", 10) or 10),
        tenant=(getattr(settings, "WEBHOOK_NOTIFY_TENANT", "") or "").strip(),
    )


def configured() -> WebhookSettings | None:
    """The settings when a URL is set; otherwise None, said once per process in the log."""
    config = current()
    if config.url:
        return config
    if not _warned.is_set():
        _warned.set()
        logger.warning(
            "webhook_notify: WEBHOOK_NOTIFY_URL is not set; no webhooks will be sent "
            "(approval requests and dead letters are not reported by webhook)."
        )
    return None
