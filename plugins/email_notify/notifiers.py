"""The email notifier: each approval link and reminder as one multipart email.

Renders ``approvals/email/request.txt`` and ``request.html`` (the templates
stay with the approval pages they link to) and sends them through Django's
email framework, from DEFAULT_FROM_EMAIL. A failure raises, so the
``approvals.deliver`` attempt fails and Absurd retries it (docs/approvals.md).
"""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from approvals.notifiers import ApprovalMessage, Notifier


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
