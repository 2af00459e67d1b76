"""What the JSON API accepts as input, and nothing more.

- Bodies are JSON: ``application/json`` (or a ``+json`` type) in UTF-8. Another media type
  is a 415, JSON that Python can decode but PostgreSQL cannot store (a lone UTF-16
  surrogate such as ``"\\ud800"``) or NaN/Infinity (Python reads them, JSON and jsonb do
  not) is a 400 that says so, never a 500 from deep inside a statement.
- Body fields have exact JSON types (``StrictBody``): ``"5"`` or ``true`` is not an integer,
  ``1`` is not a boolean, and an unknown field is refused rather than silently ignored
  (a misspelt ``max_attempt`` would otherwise spawn with the default).
- Query parameters an operation does not declare are refused with a 400: an ignored filter
  (a typo, or a parameter of a later version) would answer with more than the caller asked
  for, and a client acting on that list (cancelling every task in it) would act on too much.
- ``IsoDateTime`` takes RFC 3339 date-times only; pydantic alone also reads numbers as Unix
  timestamps (``spawned_before=0.5``), which the OpenAPI document does not allow.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Schema
from ninja.errors import HttpError
from ninja.parser import Parser
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.IGNORECASE)

# RFC 3339 section 5.6 (the OpenAPI "date-time" format); the separator and the zone letter
# may be lower case there, and pydantic reads both.
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


class UnsupportedMediaType(HttpError):
    def __init__(self, content_type: str):
        shown = content_type or "none"
        super().__init__(
            415, f"The body must be JSON (Content-Type: application/json), not {shown}."
        )


class BadBody(HttpError):
    def __init__(self, detail: str):
        super().__init__(400, detail)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def _refuse_constant(name: str) -> Any:
    # Python's json module reads NaN and Infinity, which JSON has not and jsonb refuses.
    raise ValueError(f"{name} is not a JSON number")


class JsonBodyParser(Parser):
    """ninja's parser, refusing what is not JSON and JSON that cannot be stored.

    ninja turns any exception of a parser into a generic 400; ``ControlNinjaAPI`` answers
    with the ``HttpError`` raised here instead (its cause), so the status and detail survive.
    """

    def parse_body(self, request: HttpRequest) -> Any:
        content_type = request.content_type or ""
        if not JSON_MEDIA_TYPE.match(content_type.lower()):
            raise UnsupportedMediaType(content_type)
        charset = (request.content_params or {}).get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"{content_type}; charset={charset}")
        body = request.body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("The body is not valid UTF-8.") from None
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as exc:
            raise BadBody(f"The body is not valid JSON: {exc}.") from None
        # Only an escaped surrogate (\ud800) can produce one: raw bytes were decoded above.
        if SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(data):
            raise BadBody(
                "The body contains a lone UTF-16 surrogate (such as \\ud800), which is not "
                "a Unicode character and cannot be stored."
            )
        return data


class StrictBody(Schema):
    """Base of every request body: exact JSON types, no unknown fields.

    Integer fields are ``json_int``: strict mode alone would also refuse ``5.0``, which JSON
    Schema (and so the OpenAPI document) counts as an integer.
    """

    model_config = ConfigDict(strict=True, extra="forbid")


def _integral_float(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_int(ge: int, le: int) -> Any:
    """An integer body field between ``ge`` and ``le``: 5 and 5.0, never "5", true or 5.5.

    The bounds come before the validator: after it, pydantic would write them into the
    OpenAPI document as unknown keywords (``ge``) instead of ``minimum`` and ``maximum``."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_integral_float)]


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not RFC3339.match(value):
        raise ValueError(
            "Input should be an RFC 3339 date-time with a zone, e.g. 2026-01-31T12:00:00Z"
        )
    return value


def _in_utc(value: datetime) -> datetime:
    # RFC 3339 allows offsets up to ±23:59; PostgreSQL reads only up to ±15:59 when the value
    # is sent as text (client-side binding, DATABASE_POOLER=transaction). The instant is kept.
    return value.astimezone(UTC) if value.tzinfo is not None else value


#: A date-time query parameter: RFC 3339 text only, never a number read as a timestamp,
#: handed on in UTC.
IsoDateTime = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


def _query_names(operation) -> set[str]:
    names: set[str] = set()
    for model in operation.models:
        if getattr(model, "__ninja_param_source__", None) != "query":
            continue
        flat = getattr(model, "__ninja_flatten_map__", None)
        names.update(flat or {})
    return names


def refuse_unknown_query(run):
    """A view decorator for ``NinjaAPI.add_decorator(..., mode="view")``: undeclared query
    parameters answer 400 before anything else runs. ninja passes each operation's bound
    ``run``, so the operation, and with it the parameters it declares, is ``run.__self__``."""
    operation = run.__self__
    allowed = _query_names(operation)

    @wraps(run)
    def checked_run(request: HttpRequest, **kwargs):
        unknown = sorted(set(request.GET) - allowed)
        if unknown:
            listed = ", ".join(repr(name) for name in unknown[:5])
            known = ", ".join(sorted(allowed)) or "none"
            error = HttpError(
                400, f"Unknown query parameter {listed}; this operation takes: {known}."
            )
            return operation.api.on_exception(request, error)
        return run(request, **kwargs)

    return checked_run
