"""Feedback for every action: a toast.

For an htmx request the toast travels in the ``HX-Trigger`` response header
(``{"toast": {"level": ..., "text": ...}}``, set by django_htmx's
``trigger_client_event``) and static/dashboard/dashboard.js shows it; for a plain
POST-redirect it is a Django message, which base.html renders as the same toast
after the redirect. The texts themselves are the pages' (or dashboard/presenters.py's).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django_htmx.http import trigger_client_event

LEVELS = {"success": messages.SUCCESS, "info": messages.INFO, "warning": messages.WARNING,
          "error": messages.ERROR}  # fmt: skip


def toast(request: HttpRequest, response: HttpResponse, level: str, text: str) -> HttpResponse:
    """Attach a toast to ``response`` (htmx) or queue it as a message (plain requests)."""
    if getattr(request, "htmx", False):
        trigger_client_event(response, "toast", {"level": level, "text": text})
    else:
        messages.add_message(request, LEVELS[level], text)
    return response
