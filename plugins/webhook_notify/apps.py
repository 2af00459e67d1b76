from plugins.base import PluginConfig


class WebhookNotifyConfig(PluginConfig):
    """Signed JSON webhooks for approval requests, reminders and dead letters.

    Opt-in: add ``plugins.webhook_notify`` to PLUGINS and set WEBHOOK_NOTIFY_URL
    (docs/notifiers.md). Without a URL it sends nothing.
    """

    name = "plugins.webhook_notify"
    label = "webhook_notify"
    verbose_name = "Webhook notifier"
    plugin_name = "webhook_notify"
    plugin_version = "1.0.0"
    tasks = ("webhook_notify.deliver",)
    approval_notifiers = ("plugins.webhook_notify.notifiers.WebhookNotifier",)
    lifecycle_listeners = ("plugins.webhook_notify.listeners.dead_letters",)

    def ready(self) -> None:
        super().ready()
        from plugins.webhook_notify import checks  # noqa: F401  (registers the system checks)
