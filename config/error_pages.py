"""The site's error pages (handler400/403/404/500 in config/urls.py).

Under /api/ every error stays RFC 9457 problem details (config.api.problems). Everywhere
else the page is drawn inside the dashboard shell (navigation, tenant switcher), says why,
and offers the way out (dashboard/templates/dashboard/error.html; wording in
dashboard.presenters.error_page).

The 500 page needs neither the database nor the request's user: it may be the database
that failed. It is rendered without the request, so no context processor runs (no tenant
switcher, no session), from the same base template, which draws the bare shell then.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string

from config.api.problems import API_PREFIX, problem_response
from dashboard.presenters import error_page

logger = logging.getLogger("config.errors")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def _page(request, status: int, exception=None) -> HttpResponse:
    if _is_api(request):
        detail = error_page(status, exception).problem_detail
        return problem_response(request, status, detail)
    context = {"error": error_page(status, exception)}
    try:
        return render(request, "dashboard/error.html", context, status=status)
    except Exception:  # the shell's context needs the database: fall back to the bare page
        logger.exception("error page %s could not render in the shell", status)
        return HttpResponse(_bare(status), status=status)


def bad_request(request, exception=None):
    return _page(request, 400, exception)


def permission_denied(request, exception=None):
    return _page(request, 403, exception)


def page_not_found(request, exception=None):
    return _page(request, 404, exception)


def _bare(status: int) -> str:
    return render_to_string("dashboard/error.html", {"error": error_page(status), "bare": True})


def server_error(request):
    if _is_api(request):
        return problem_response(request, 500, error_page(500).problem_detail)
    return HttpResponseServerError(_bare(500))
