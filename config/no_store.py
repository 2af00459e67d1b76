"""``Cache-Control: no-store`` on every response that carries a user's data.

A signed-in page, an API answer to a request with credentials: neither may be kept by a
browser's back-forward cache or disk cache, nor by a shared proxy, where the next person at the
machine or behind the proxy could read it. The approval pages (tokens in the URL, decisions in
the body) say so themselves (``approvals/views.py``), because their visitors are not signed in.

Static files are served by WhiteNoise before the session and the user are read, so they keep
their far-future cache headers.
"""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if _carries_credentials(request):
            # no-cache, no-store, must-revalidate, private, max-age=0 (and Expires now).
            add_never_cache_headers(response)
        return response


def _carries_credentials(request) -> bool:
    # Any Authorization header, valid or not: the answer depends on it (an API key, the
    # metrics token), and a 401 is no more worth caching than a 200.
    if "HTTP_AUTHORIZATION" in request.META:
        return True
    # Set by AuthenticationMiddleware; absent when an outer middleware answered first.
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)
