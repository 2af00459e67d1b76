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

from config.problems import CONTENT_TYPE, problem_body

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

COMMON = {
    "400": "The body is not valid JSON.",
    "401": "No API key, or not a valid one.",
    "413": "The body is over the size limit (API_MAX_BODY_BYTES, 1 MiB by default).",
    "422": "A parameter or body field is not valid; `errors` lists each one.",
    "429": "Too many failed authentications from this address, or (spawning) over the "
    "tenant's spawn rate; `Retry-After` says how many seconds to wait.",
    "500": "The server failed; nothing was changed that the answer does not say.",
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


class ControlNinjaAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" in schema["components"]["schemas"]:
            for path_item in schema["paths"].values():
                for operation in path_item.values():
                    _complete(operation)
        _add_links(schema, self.get_root_path({}).rstrip("/"))
        return schema


def _complete(operation: dict[str, Any]) -> None:
    # ninja keys responses by int status; JSON keys are strings. Use strings throughout.
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    operation["responses"] = responses
    authenticated = bool(operation.get("security"))
    has_body = "requestBody" in operation
    has_params = bool(operation.get("parameters")) or has_body
    wanted = {"500"}
    if authenticated:
        wanted |= {"401", "403", "429"}  # scopes can narrow any key
    if has_body:
        wanted |= {"400", "413"}
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
        if status == "429":
            response["headers"] = RETRY_AFTER
