"""How approvers hear about a request: notifiers, which plugins extend.

A notifier gets one ``ApprovalMessage`` per approver (the first link, then any
reminders) and sends it, raising on failure: the delivery task records the
error on the approver's token and Absurd retries it. The email notifier is the
default (settings.APPROVAL_NOTIFIERS); plugins add theirs with
``PluginConfig.approval_notifiers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from approvals.models import ApprovalRequest


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


class EmailNotifier(Notifier):
    """HTML and plain text through Django's email framework."""

    name = "email"

    def send(self, message: ApprovalMessage) -> None:
        context = {
            "request": message.request,
            "approver": message.approver,
            "link": message.link,
            "reminder": message.kind == "reminder",
        }
        prefix = "Reminder: " if message.kind == "reminder" else ""
        email = EmailMultiAlternatives(
            subject=f"{prefix}Approval needed: {message.request.title}",
            body=render_to_string("approvals/email/request.txt", context),
            to=[message.approver],
        )
        email.attach_alternative(
            render_to_string("approvals/email/request.html", context), "text/html"
        )
        email.send(fail_silently=False)


@cache
def notifiers() -> tuple[Notifier, ...]:
    from plugins.base import installed_plugins

    paths = list(getattr(settings, "APPROVAL_NOTIFIERS", ["approvals.notifiers.EmailNotifier"]))
    for plugin in installed_plugins():
        paths.extend(p for p in plugin.approval_notifiers if p not in paths)
    return tuple(import_string(path)() for path in paths)
