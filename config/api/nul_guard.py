"""Refuse NUL characters in API input, before they reach PostgreSQL.

PostgreSQL stores no U+0000, in text or in jsonb ("unsupported Unicode escape
sequence"), so a NUL in a query string or a JSON body could only fail deep in a
statement, as a confusing 422 or a 500. Django's forms refuse it with their own
validator; this middleware does the same for /api/: 400, a problem that says
why, and nothing changed.
"""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from config.api.problems import API_PREFIX, problem_response

MESSAGE = "NUL characters (U+0000) are not accepted: PostgreSQL cannot store them."


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def request_has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
        return True
    if any(_has_nul(v) for values in request.GET.lists() for v in values[1]):
        return True
    try:
        body = request.body
    except RequestDataTooBig:
        return False  # the API answers 413 for it
    if b"\x00" in body:
        return True
    if b"\\u0000" not in body:
        return False  # the common case: no escaped NUL, nothing to parse
    try:
        return _has_nul(json.loads(body))
    except ValueError:
        return False  # not JSON: the API answers 400 for it


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX) and request_has_nul(request):
            return problem_response(request, 400, MESSAGE)
        return self.get_response(request)
