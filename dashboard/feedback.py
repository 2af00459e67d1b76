"""Feedback for every action: a toast.

For an htmx request the toast travels in the ``HX-Trigger`` response header
(``{"toast": {"level": ..., "text": ...}}``) and static/dashboard/dashboard.js
shows it; for a plain POST-redirect it is a Django message, which base.html
renders as the same toast after the redirect.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse

LEVELS = {"success": messages.SUCCESS, "info": messages.INFO, "warning": messages.WARNING,
          "error": messages.ERROR}  # fmt: skip


def toast(request: HttpRequest, response: HttpResponse, level: str, text: str) -> HttpResponse:
    """Attach a toast to ``response`` (htmx) or queue it as a message (plain requests)."""
    if getattr(request, "htmx", False):
        triggers = json.loads(response.get("HX-Trigger", "{}") or "{}")
        triggers["toast"] = {"level": level, "text": text}
        response["HX-Trigger"] = json.dumps(triggers)
    else:
        messages.add_message(request, LEVELS[level], text)
    return response
