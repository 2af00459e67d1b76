"""How approvers hear about a request: notifiers, which plugins provide.

A notifier gets one ``ApprovalMessage`` per approver (the first link, then any
reminders) and sends it, raising on failure: the delivery task records the
error on the approver's token and Absurd retries it. Notifiers come from
installed plugins (``PluginConfig.approval_notifiers``): the email notifier is
the plugin ``plugins.email_notify``, in the default PLUGINS list; webhooks are
``plugins.webhook_notify``. settings.APPROVAL_NOTIFIERS may name more classes,
which go first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string

from approvals.models import ApprovalRequest, ApprovalToken

#: The notifier contract; ``ApprovalRequest`` and ``ApprovalToken`` are published here for
#: plugins, which import facades only (docs/architecture.md).
__all__ = ["ApprovalMessage", "ApprovalRequest", "ApprovalToken", "Notifier", "notifiers"]


@dataclass(frozen=True)
class ApprovalMessage:
    request: ApprovalRequest
    approver: str
    #: The decision page, built from settings.BASE_URL.
    link: str
    #: "request" or "reminder".
    kind: str = "request"


class Notifier:
    name = "notifier"

    def send(self, message: ApprovalMessage) -> None:
        raise NotImplementedError


def __getattr__(name: str):
    # The email notifier moved to a plugin; an old APPROVAL_NOTIFIERS value naming
    # approvals.notifiers.EmailNotifier still works, and is the same class (sent once).
    # Resolved by dotted path (as settings name notifiers), so approvals imports no plugin.
    if name == "EmailNotifier":
        return import_string("plugins.email_notify.notifiers.EmailNotifier")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def notifiers() -> tuple[Notifier, ...]:
    """One instance of each notifier class, settings first, then plugins in app order.

    Plugins are collected by app-config attribute (``approval_notifiers``, declared by
    plugins.base.PluginConfig), like ``tasks`` modules: approvals imports no plugin.
    """
    paths = list(getattr(settings, "APPROVAL_NOTIFIERS", ()))
    for app_config in apps.get_app_configs():
        paths.extend(getattr(app_config, "approval_notifiers", ()))
    classes: list[type[Notifier]] = []
    for path in paths:
        cls = import_string(path)
        if cls not in classes:  # two paths to one class (an alias) still send once
            classes.append(cls)
    return tuple(cls() for cls in classes)
