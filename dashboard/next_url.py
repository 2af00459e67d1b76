"""Where a dashboard POST goes back to: the form's ``next``, when it is a path on this site.

Forms send ``next`` as ``request.get_full_path``. Anything else a client may put there is
refused in favour of a fallback: another host or scheme (an open redirect), a bare word (which
``redirect()`` would try to reverse as a URL name, a 500 when it names none), and control
characters (a newline in a Location header is a 500 too).
"""

from __future__ import annotations

import unicodedata

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

#: Longer values are not a path the dashboard wrote.
MAX_LENGTH = 2000


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The POST's ``next`` if it is a local path, else the URL named ``fallback``."""
    target = request.POST.get("next", "")
    if _is_local_path(request, target):
        return target
    return reverse(fallback)


def _is_local_path(request: HttpRequest, target: str) -> bool:
    if not target.startswith("/") or len(target) > MAX_LENGTH:
        return False
    if any(unicodedata.category(char)[0] == "C" for char in target):
        return False
    return url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
