from plugins.base import PluginConfig


class EmailNotifyConfig(PluginConfig):
    """Approval links by email: the default notifier (in the default PLUGINS list)."""

    name = "plugins.email_notify"
    label = "email_notify"
    verbose_name = "Email notifier"
    plugin_name = "email_notify"
    plugin_version = "1.0.0"
    approval_notifiers = ("plugins.email_notify.notifiers.EmailNotifier",)
