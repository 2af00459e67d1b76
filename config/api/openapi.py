"""The OpenAPI document, completed with the errors every operation can answer.

ninja documents what each operation declares. Some answers come from layers
around every operation instead (authentication, its failure throttle, body
parsing and validation, the body-size limit, an unexpected failure), so they
are added here, once, to every operation they apply to, and every 4xx and 5xx
is documented as ``application/problem+json`` with the Problem schema.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.errors import HttpError

from config.api.input import JsonBodyParser, refuse_unknown_query
from config.api.problems import CONTENT_TYPE, problem_body

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

COMMON = {
    "400": "A query parameter this operation does not take, a NUL character (U+0000) in the "
    "path, query or body, or (with a body) a body that is not valid UTF-8 JSON or holds a "
    "lone UTF-16 surrogate.",
    "401": "No API key, or not a valid one.",
    "413": "The body is over the size limit (API_MAX_BODY_BYTES, 1 MiB by default).",
    "414": "The URL is over the length limit (API_MAX_URL_BYTES, 4096 bytes by default).",
    "415": "The body is not `application/json` in UTF-8.",
    "422": "A parameter or body field is not valid; `errors` lists each one.",
    "429": "Too many failed authentications from this address, or (spawning) over the "
    "tenant's spawn rate; `Retry-After` says how many seconds to wait.",
    "500": "The server failed; nothing was changed that the answer does not say.",
    "503": "The database is unreachable; nothing was changed. `Retry-After` says how many "
    "seconds to wait.",
}
DESCRIPTIONS = {
    "403": "The key's role or scopes do not allow this operation.",
    "404": "No such object for this tenant (another tenant's objects are not found either).",
    "409": "The object's state does not allow this.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


#: What the server refuses in every string it takes (config/api/nul_guard.py): PostgreSQL stores
#: no U+0000. Stated on every input string that has no stricter pattern, enum or format.
NO_NUL = "^[^\\u0000]*$"
#: Any JSON value without a NUL character in a string or a key: task params, event payloads.
JSON_VALUE = {
    "description": "Any JSON value; no string or key may contain U+0000 (NUL).",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
        },
    ],
}


def _refuse_nul(schema: Any) -> Any:
    """An input schema with NUL refused wherever the server refuses it."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return schema
    if not schema.keys() - {"title", "description", "examples", "default"}:
        return {**schema, "$ref": "#/components/schemas/JsonValue"}  # typed Any
    schema = dict(schema)
    if schema.get("type") == "string" and not schema.keys() & {"pattern", "enum", "format"}:
        schema["pattern"] = NO_NUL
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        if extra is True or extra == {}:
            schema["additionalProperties"] = {"$ref": "#/components/schemas/JsonValue"}
        if extra is not False:
            schema.setdefault("propertyNames", {"pattern": NO_NUL})
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            schema[key] = [_refuse_nul(item) for item in schema[key]]
    if "items" in schema:
        schema["items"] = _refuse_nul(schema["items"])
    if isinstance(schema.get("properties"), dict):
        schema["properties"] = {k: _refuse_nul(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _refuse_nul(schema["additionalProperties"])
    return schema


def _state_nul_refusal(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    bodies: set[str] = set()
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _refuse_nul(parameter.get("schema"))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    bodies.add(ref.rsplit("/", 1)[-1])
                else:
                    media["schema"] = _refuse_nul(media.get("schema"))
    for name in bodies:
        components[name] = _refuse_nul(components[name])
    components["JsonValue"] = JSON_VALUE


def _is_problem(response: dict[str, Any]) -> bool:
    schemas = [c.get("schema") for c in response.get("content", {}).values()]
    return not schemas or all(schema == PROBLEM_REF for schema in schemas)


#: OpenAPI links: what a response's ids lead to (clients and the stateful fuzzer follow them).
#: (method, path, status) -> {link name: (target operation's view function, parameters)}.
TASK_ID = {"task_id": "$response.body#/task_id"}
LINKS = {
    ("post", "/tasks", "201"): {
        "GetTask": ("get_task", TASK_ID),
        "GetTaskHistory": ("task_history", TASK_ID),
        "CancelTask": ("cancel_task", TASK_ID),
        "RetryTask": ("retry_task", TASK_ID),
    },
    ("get", "/dead-letters/{dead_letter_id}", "200"): {
        "RetryDeadLetter": ("retry", {"dead_letter_id": "$response.body#/id"}),
    },
    ("get", "/queues", "200"): {
        "GetQueue": ("get_queue", {"name": "$response.body#/0/name"}),
    },
}


def _add_links(schema: dict[str, Any], prefix: str) -> None:
    ids = {
        op["operationId"].rsplit("_api_", 1)[-1]: op["operationId"]
        for item in schema["paths"].values()
        for op in item.values()
        if "operationId" in op
    }
    for (method, path, status), links in LINKS.items():
        operation = schema["paths"].get(prefix + path, {}).get(method)
        if operation is None or status not in operation["responses"]:
            continue
        operation["responses"][status]["links"] = {
            name: {"operationId": ids[target], "parameters": parameters}
            for name, (target, parameters) in links.items()
            if target in ids
        }


#: The modules the routers lived in before they moved to config/api/ (issue 15, item 4).
#: ninja derives an operation's id from its view's module; published ids stay as they were,
#: since clients (generated SDKs) and the links above name operations by them. New routers
#: follow the same pattern (schedules: ``absurd_core_schedules_api_<view>``).
PUBLISHED_MODULES = {
    "config.api.health": "absurd_core.api",
    "config.api.tasks": "absurd_core.tasks_api",
    "config.api.events": "absurd_core.events_api",
    "config.api.dead_letters": "absurd_core.dead_letters_api",
    "config.api.queues": "absurd_core.queues_api",
    "config.api.approvals": "approvals.api",
    "config.api.schedules": "absurd_core.schedules_api",
}


class ControlNinjaAPI(NinjaAPI):
    """ninja's API with the project's input rules (config/api/input.py) and a complete
    OpenAPI document."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parser", JsonBodyParser())
        super().__init__(*args, **kwargs)
        self.add_decorator(refuse_unknown_query, mode="view")

    def on_exception(self, request, exc):
        # ninja answers any exception of the body parser as a generic 400 raised from it;
        # the parser's own HttpError (415, or a 400 that says what is wrong) is the answer.
        if isinstance(exc, HttpError) and isinstance(exc.__cause__, HttpError):
            exc = exc.__cause__
        return super().on_exception(request, exc)

    def get_openapi_operation_id(self, operation) -> str:
        module = operation.view_func.__module__
        module = PUBLISHED_MODULES.get(module, module)
        return f"{module}_{operation.view_func.__name__}".replace(".", "_")

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" in schema["components"]["schemas"]:
            for path_item in schema["paths"].values():
                for operation in path_item.values():
                    _complete(operation)
        _state_nul_refusal(schema)
        _add_links(schema, self.get_root_path({}).rstrip("/"))
        return schema


def _complete(operation: dict[str, Any]) -> None:
    # ninja keys responses by int status; JSON keys are strings. Use strings throughout.
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    operation["responses"] = responses
    authenticated = bool(operation.get("security"))
    has_body = "requestBody" in operation
    has_params = bool(operation.get("parameters")) or has_body
    # Every operation refuses unknown query parameters and NUL characters (400), over-long
    # URLs (414), and needs the database (503).
    wanted = {"400", "414", "500", "503"}
    if authenticated:
        wanted |= {"401", "403", "429"}  # scopes can narrow any key
    if has_body:
        wanted |= {"413", "415"}
    if has_params:
        wanted.add("422")
    for status in wanted:
        responses.setdefault(status, {"description": COMMON.get(status) or DESCRIPTIONS[status]})
    for status, response in responses.items():
        if int(status) < 400 or not _is_problem(response):
            continue  # health's 503 has its own body
        if response.get("description") in (None, "", "Not Found", "Forbidden", "Conflict"):
            response["description"] = DESCRIPTIONS.get(status, COMMON.get(status, "Error."))
        response["content"] = {
            CONTENT_TYPE: {
                "schema": PROBLEM_REF,
                "example": problem_body(int(status), response["description"]),
            }
        }
        if status in ("429", "503"):
            response["headers"] = RETRY_AFTER
