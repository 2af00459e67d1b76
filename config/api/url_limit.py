"""Over-long URLs under /api/ answer a 414 problem, not the web server's HTML page.

gunicorn refuses request lines over its ``limit_request_line`` with an HTML error of its own;
gunicorn.conf.py raises that limit to gunicorn's maximum (8190 bytes), so below it the request
reaches Django and this middleware answers URLs over ``API_MAX_URL_BYTES`` (4096 by default)
in the API's error format. No operation needs a URL near that long: the longest legitimate
ones are task lists with many repeated filters.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.api.problems import API_PREFIX, problem_response


def url_length(request: HttpRequest) -> int:
    # gunicorn passes the request target as sent; other servers only the decoded parts.
    raw = request.META.get("RAW_URI") or request.get_full_path()
    return len(raw.encode("latin-1", "replace"))


class UrlLengthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.API_MAX_URL_BYTES
        if request.path.startswith(API_PREFIX) and url_length(request) > limit:
            return problem_response(
                request, 414, f"The URL is over the limit of {limit} bytes; send fewer filters."
            )
        return self.get_response(request)
