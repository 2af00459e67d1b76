"""One error format for the whole JSON API: RFC 9457 problem details.

Every 4xx and 5xx the API answers is ``application/problem+json``::

    {"type": "urn:absurd-control:problem:not-found", "title": "Not Found",
     "status": 404, "detail": "No task 0192...."}

Validation failures add ``errors``, one entry per field (``field`` is the
dotted path into the body, query or path). ``problem_response`` builds the
body; ``install`` registers the handlers on the NinjaAPI; and
``ApiProblemMiddleware`` rewrites the few error responses that never reach
ninja (an unknown URL under /api/, a wrong method) into the same format.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

logger = logging.getLogger("config.api")

CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

#: The problem types the API uses, by status. Documented in docs/api.md.
TYPES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "server-error",
    503: "unavailable",
}


class FieldError(Schema):
    field: str
    message: str
    type: str


class Problem(Schema):
    """RFC 9457 problem details: what went wrong, for every 4xx and 5xx."""

    type: str
    title: str
    status: int
    detail: str
    #: Validation failures only: one entry per invalid field.
    errors: list[FieldError] | None = None


def problem_type(status: int) -> str:
    return f"urn:absurd-control:problem:{TYPES.get(status, 'error')}"


def problem_body(status: int, detail: str, *, errors: list | None = None) -> dict[str, Any]:
    # No "instance" member: it would echo the request path, and with it whatever ids a
    # caller probed for, back into logs and error trackers.
    body: dict[str, Any] = {
        "type": problem_type(status),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    request: HttpRequest | None, status: int, detail: str, *, errors: list | None = None
) -> HttpResponse:
    body = problem_body(status, detail, errors=errors)
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        if len(loc) >= 3 and loc[0] in ("body", "query"):
            # ninja puts the view's parameter name second ("body.body.task",
            # "query.filters.state"); clients know fields by where they sent them.
            del loc[1]
        errors.append(
            {
                "field": ".".join(loc) or "body",
                "message": str(error.get("msg", "Invalid value.")),
                "type": str(error.get("type", "invalid")),
            }
        )
    return errors


def on_http_error(request, exc: HttpError) -> HttpResponse:
    response = problem_response(request, exc.status_code, str(exc))
    if isinstance(exc, AuthenticationError) or exc.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    retry_after = getattr(exc, "retry_after", None) or getattr(exc, "wait", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def on_validation_error(request, exc: ValidationError) -> HttpResponse:
    errors = _field_errors(exc)
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(request, 422, f"The request is not valid: {summary}", errors=errors)


def on_not_found(request, exc: Exception) -> HttpResponse:
    return problem_response(request, 404, str(exc) or "Not found.")


def on_permission_denied(request, exc: PermissionDenied) -> HttpResponse:
    return problem_response(request, 403, str(exc) or "Not allowed.")


def on_too_big(request, exc: RequestDataTooBig) -> HttpResponse:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return problem_response(request, 413, f"The request body is over the limit of {limit} bytes.")


#: Seconds a client should wait after a 503 before trying again.
UNAVAILABLE_RETRY_AFTER = 5
#: SQLSTATEs of a lost or refused connection besides class 08 ("connection exception"):
#: the server shutting down or restarting, and terminated backends.
CONNECTION_SQLSTATES = {"57P01", "57P02", "57P03"}


def is_connection_failure(exc: Exception) -> bool:
    """Whether a database error means the database could not be reached (a 503), not that
    a statement failed (a 500). Django wraps psycopg's error; its SQLSTATE is on the cause,
    and is None when the connection broke before the server said why."""
    if isinstance(exc, InterfaceError):
        return True  # the connection is already closed
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in CONNECTION_SQLSTATES


def on_database_error(request, exc: DatabaseError) -> HttpResponse:
    if not isinstance(exc, OperationalError | InterfaceError) or not is_connection_failure(exc):
        return on_unexpected(request, exc)
    logger.warning("api.database_unavailable %s %s: %s", request.method, request.path, exc)
    response = problem_response(
        request, 503, "The database is unreachable; nothing was changed. Try again shortly."
    )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response


def on_unexpected(request, exc: Exception) -> HttpResponse:
    logger.exception("api.unhandled_error %s %s", request.method, request.path)
    return problem_response(request, 500, "The server failed to handle this request.")


def install(api) -> None:
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(DatabaseError, on_database_error)
    api.add_exception_handler(Exception, on_unexpected)


class ApiProblemMiddleware:
    """Error responses under /api/ that did not come from an API operation become problems.

    Django answers an unknown URL (404) or a wrong method (405) before ninja runs.
    JSON answers of API operations (health's 503 with its body) are left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith((CONTENT_TYPE, "application/json"))
        ):
            detail = {
                404: "No API operation has this path.",
                405: f"{request.method} is not allowed on this path.",
            }.get(response.status_code, HTTPStatus(response.status_code).phrase + ".")
            problem = problem_response(request, response.status_code, detail)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    problem[header] = response[header]
            return problem
        return response
