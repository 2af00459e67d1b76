"""System checks for the webhook plugin (only registered when it is installed)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.checks import Error, Warning, register

from plugins.webhook_notify import conf


@register("webhook_notify")
def check_webhook_settings(app_configs=None, **kwargs):
    config = conf.current()
    if not config.url:
        return [
            Warning(
                "plugins.webhook_notify is installed but WEBHOOK_NOTIFY_URL is not set: "
                "no webhooks will be sent.",
                hint="Set WEBHOOK_NOTIFY_URL (and WEBHOOK_NOTIFY_SECRET), or remove the "
                "plugin from PLUGINS.",
                id="webhook_notify.W001",
            )
        ]
    parts = urlsplit(config.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Error(
                "WEBHOOK_NOTIFY_URL must be an http:// or https:// URL with a host.",
                id="webhook_notify.E001",
            )
        ]
    found = []
    if not config.secret:
        found.append(
            Warning(
                "WEBHOOK_NOTIFY_SECRET is not set: webhooks are sent without the "
                "X-Absurd-Signature header, so receivers cannot tell them from forgeries.",
                id="webhook_notify.W002",
            )
        )
    if config.include_links and parts.scheme != "https":
        found.append(
            Warning(
                "WEBHOOK_NOTIFY_INCLUDE_LINKS is on and WEBHOOK_NOTIFY_URL is not https: "
                "approval links (credentials) would travel in clear text.",
                id="webhook_notify.W003",
            )
        )
    return found
