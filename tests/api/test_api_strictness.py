"""The API takes what its OpenAPI document says, and refuses the rest with a clear 4xx.

Undecodable JSON, non-JSON media types, loosely typed values, unknown parameters and
fields, numbers for date-times and over-long URLs are refused, and each refusal changes
nothing (the tenant's data is byte-for-byte the same afterwards). Chunked bodies and
over-long URLs are tested under a real gunicorn too, started with the checkout's
gunicorn.conf.py as deployed.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.test import Client

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import RateLimitPolicy, Tenant
from tests.helpers import ROOT, api, subprocess_env
from tests.tenants.snapshot import assert_unchanged
from tests.tenants.snapshot import tenant_snapshot as full_snapshot

PROBLEM = "application/problem+json"
SPAWN = {"task": "demo.two_steps", "params": {"i": 1}}


@pytest.fixture
def key(db):
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme", is_platform=True)
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=1000, spawn_burst=1000)
    return issue_key(tenant, "ops", role="admin").key


def tenant_snapshot(slug: str) -> dict:
    """The tenant's data but for its API keys, whose last use every request records."""
    snapshot = full_snapshot(slug)
    snapshot.pop("api_keys")
    return snapshot


def post_raw(path: str, key: str, data: bytes | str, content_type: str):
    return Client().post(
        f"/api/v1{path}", data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


# -- Undecodable JSON -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, raw",
    [
        ("/events", b'{"queue": "demo", "name": "x", "payload": "\\ud800"}'),
        ("/events", b'{"queue": "demo", "name": "x", "payload": {"\\uDFFF": 1}}'),
        ("/tasks", b'{"task": "demo.two_steps", "params": {"note": ["a\\udc00b"]}}'),
    ],
)
def test_a_lone_surrogate_is_a_400_that_says_so_and_changes_nothing(key, path, raw):
    before = tenant_snapshot("acme")
    body = assert_problem(post_raw(path, key, raw, "application/json"), 400)
    assert "surrogate" in body["detail"]
    assert_unchanged(before, tenant_snapshot("acme"))


def test_a_surrogate_pair_is_a_character_and_is_accepted(key):
    raw = b'{"queue": "demo", "name": "pair", "payload": "\\ud83d\\ude00"}'
    response = post_raw("/events", key, raw, "application/json")
    assert response.status_code == 201, response.content
    assert response.json()["payload"] == "\U0001f600"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_a_400(key, constant):
    before = tenant_snapshot("acme")
    raw = f'{{"queue": "demo", "name": "x", "payload": {{"amount": {constant}}}}}'
    body = assert_problem(post_raw("/events", key, raw, "application/json"), 400)
    assert constant in body["detail"]
    assert_unchanged(before, tenant_snapshot("acme"))


def test_invalid_utf8_is_a_400(key):
    raw = b'{"queue": "demo", "name": "x", "payload": "\xed\xa0\x80"}'
    body = assert_problem(post_raw("/events", key, raw, "application/json"), 400)
    assert "UTF-8" in body["detail"]


# -- 415 for bodies that are not JSON -------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, data",
    [
        ("text/plain", json.dumps(SPAWN)),
        ("application/x-www-form-urlencoded", "task=demo.two_steps"),
        (
            "multipart/form-data; boundary=XyZ",
            '--XyZ\r\nContent-Disposition: form-data; name="task"'
            "\r\n\r\ndemo.two_steps\r\n--XyZ--\r\n",
        ),
        ("application/json; charset=latin-1", json.dumps(SPAWN)),
        ("", json.dumps(SPAWN)),
    ],
)
def test_a_body_that_is_not_json_is_415_and_spawns_nothing(key, content_type, data):
    before = tenant_snapshot("acme")
    body = assert_problem(post_raw("/tasks", key, data, content_type), 415)
    assert body["type"] == "urn:absurd-control:problem:unsupported-media-type"
    assert "application/json" in body["detail"]
    assert_unchanged(before, tenant_snapshot("acme"))


def test_json_media_types_are_accepted(key):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        spawn = {**SPAWN, "idempotency_key": content_type}
        response = post_raw("/tasks", key, json.dumps(spawn), content_type)
        assert response.status_code == 201, response.content


def test_every_operation_with_a_body_answers_415_for_text(client, key):
    schema = client.get("/api/v1/openapi.json").json()
    with_body = [
        (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 7
    for method, path in with_body:
        # Ids that exist nowhere: the media type is refused before anything is looked up.
        url = path.replace("{task_id}", "0193a1b2-0000-7000-8000-000000000000")
        url = url.replace("{dead_letter_id}", "1").replace("{approval_id}", "1")
        url = url.replace("{name}", "demo")
        response = getattr(Client(), method)(
            url, data="{}", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert response.status_code == 415, (method, path, response.content)
        assert "415" in schema["paths"][path][method]["responses"], (method, path)


# -- Strict types, unknown fields and parameters --------------------------------------------


@pytest.mark.parametrize("value", ["5", True, 5.5, "five"])
def test_max_attempts_takes_integers_only(key, value):
    before = tenant_snapshot("acme")
    body = assert_problem(api("post", "/tasks", key, {**SPAWN, "max_attempts": value}), 422)
    assert [e["field"] for e in body["errors"]] == ["body.max_attempts"]
    assert_unchanged(before, tenant_snapshot("acme"))


def test_an_integral_number_is_an_integer_as_in_json_schema(key):
    response = api("post", "/tasks", key, {**SPAWN, "max_attempts": 3.0})
    assert response.status_code == 201, response.content
    task = api("get", f"/tasks/{response.json()['task_id']}", key).json()
    assert task["max_attempts"] == 3


@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_booleans_are_strict(key, value):
    task_id = api("post", "/tasks", key, SPAWN).json()["task_id"]
    before = tenant_snapshot("acme")
    response = api("post", f"/tasks/{task_id}/retry", key, {"spawn_new": value})
    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["body.spawn_new"]
    assert_unchanged(before, tenant_snapshot("acme"))


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("put", "/queues/demo/policy", {"cleanup_limit": "100"}),
        ("put", "/queues/demo/policy", {"cleanup_ttl_seconds": False}),
        ("post", "/dead-letters/1/retry", {"spawn_new": "yes"}),
    ],
)
def test_other_fields_are_strict_too(key, method, path, body):
    policy = api("get", "/queues/demo", key).json()
    assert_problem(api(method, path, key, body), 422)
    assert api("get", "/queues/demo", key).json() == policy


def test_an_unknown_body_field_is_refused(key):
    before = tenant_snapshot("acme")
    body = assert_problem(api("post", "/tasks", key, {**SPAWN, "max_attempt": 1}), 422)
    assert [e["field"] for e in body["errors"]] == ["body.max_attempt"]
    assert_unchanged(before, tenant_snapshot("acme"))


@pytest.mark.parametrize(
    "path",
    ["/tasks?limt=5", "/tasks?state=failed&stat=pending", "/queues?x=1", "/health?verbose=1"],
)
def test_an_unknown_query_parameter_is_a_400_naming_it(key, path):
    body = assert_problem(api("get", path, key), 400)
    unknown = path.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]
    assert repr(unknown) in body["detail"]


def test_declared_query_parameters_still_work(key):
    assert api("get", "/tasks?limit=5&state=failed&queue=demo&q=x", key).status_code == 200
    assert api("get", "/workers?include_stopped=true", key).status_code == 200


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-01-01", "2026-01-01T00:00:00"])
def test_date_times_are_rfc3339_with_a_zone_never_numbers(key, value):
    body = assert_problem(api("get", f"/tasks?spawned_before={value}", key), 422)
    assert body["errors"][0]["field"] == "query.spawned_before"


def test_rfc3339_date_times_are_accepted(key):
    api("post", "/tasks", key, SPAWN)
    for value in ("2999-01-01T00:00:00Z", "2999-01-01t00:00:00.5%2B02:00"):
        response = api("get", f"/tasks?spawned_before={value}", key)
        assert response.status_code == 200, response.content
        assert len(response.json()["items"]) == 1


# -- 414 --------------------------------------------------------------------------------------


def test_an_over_long_url_is_a_414_problem(key, settings):
    limit = settings.API_MAX_URL_BYTES
    body = assert_problem(api("get", "/tasks?q=" + "x" * limit, key), 414)
    assert str(limit) in body["detail"]
    assert api("get", "/tasks?q=" + "x" * 400, key).status_code == 200


# -- The OpenAPI document says all of this ----------------------------------------------------


def _strings(schema, components, seen=()):
    """Every string schema reachable from ``schema`` (refs followed once)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref and ref not in seen:
            yield from _strings(components[ref.rsplit("/", 1)[-1]], components, (*seen, ref))
        if schema.get("type") == "string" or schema.get("type") == ["string"]:
            yield schema
        for key, value in schema.items():
            if key not in ("$ref", "examples", "example", "default"):
                yield from _strings(value, components, seen)
    elif isinstance(schema, list):
        for item in schema:
            yield from _strings(item, components, seen)


def test_the_schema_states_what_the_server_enforces(client):
    schema = client.get("/api/v1/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            assert {"400", "414", "500", "503"} <= set(responses), where
            if "requestBody" in operation:
                assert {"413", "415"} <= set(responses), where
            if "503" in responses and not path.endswith("/health"):
                assert "Retry-After" in responses["503"]["headers"], where
            inputs = [p["schema"] for p in operation.get("parameters", [])]
            inputs += [m["schema"] for m in operation.get("requestBody", {}).get("content", {})
                       .values()]  # fmt: skip
            for string in (s for i in inputs for s in _strings(i, components)):
                # Every input string refuses NUL: by a pattern, an enum or a format.
                assert string.keys() & {"pattern", "enum", "format"}, (where, string)
    spawn = components["SpawnIn"]
    assert spawn["additionalProperties"] is False
    assert spawn["properties"]["params"]["propertyNames"]["pattern"] == "^[^\\u0000]*$"
    listing = {p["name"]: p for p in schema["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert listing["spawned_before"]["schema"]["anyOf"][0]["format"] == "date-time"
    emit = components["EmitIn"]["properties"]
    assert emit["payload"]["$ref"] == "#/components/schemas/JsonValue"


# -- Under gunicorn, as deployed --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn serving config.wsgi from the checkout, so it reads gunicorn.conf.py."""

    def __init__(self, **env: str):
        self.port = _free_port()
        self.log = ROOT / ".data" / f"gunicorn-test-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", "gthread",
             "--threads", "2", "--log-level", "warning"],
            cwd=ROOT, env=subprocess_env(DEBUG="false", **env),
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                last = self.request("GET", "/api/v1/health")
                if last[0] == 200:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)  # not listening yet: nothing to await but the port
        raise AssertionError(f"gunicorn not ready ({last}): {self.log.read_text()}")

    def request(self, method: str, path: str, body=None, headers=None, **kwargs):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {}, **kwargs)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.unlink(missing_ok=True)


@pytest.fixture
def gunicorn(transactional_db) -> Iterator[tuple[Gunicorn, str]]:
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme", is_platform=True)
    key = issue_key(tenant, "ops", role="admin").key
    server = Gunicorn(API_MAX_BODY_BYTES="4096")
    try:
        server.wait_ready()
        yield server, key
    finally:
        server.stop()
        engine.drop_queue("demo")


def _chunks(data: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_bodies_are_read_and_still_limited_under_gunicorn(gunicorn):
    server, key = gunicorn
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = json.dumps({**SPAWN, "idempotency_key": "chunked"}).encode()
    status, sent, answer = server.request(
        "POST", "/api/v1/tasks", body=_chunks(body), headers=headers, encode_chunked=True
    )
    assert status == 201, answer
    task_id = json.loads(answer)["task_id"]
    assert engine.get_task_result("demo", task_id).state == "pending"

    before = tenant_snapshot("acme")
    big = json.dumps({**SPAWN, "params": {"blob": "x" * 8000}}).encode()
    status, sent, answer = server.request(
        "POST", "/api/v1/tasks", body=_chunks(big, 1000), headers=headers, encode_chunked=True
    )
    assert status == 413, answer
    assert sent["Content-Type"] == PROBLEM
    assert "4096 bytes" in json.loads(answer)["detail"]
    assert_unchanged(before, tenant_snapshot("acme"))


def test_an_over_long_url_is_a_json_414_under_gunicorn(gunicorn):
    server, key = gunicorn
    headers = {"Authorization": f"Bearer {key}"}
    # Over gunicorn's default limit (4094 bytes) and our API_MAX_URL_BYTES (4096), under
    # the limit gunicorn.conf.py sets (8190).
    status, sent, answer = server.request("GET", "/api/v1/tasks?q=" + "x" * 6000, headers=headers)
    assert status == 414, answer
    assert sent["Content-Type"] == PROBLEM
    assert json.loads(answer)["type"] == "urn:absurd-control:problem:uri-too-long"
    long_but_allowed = "/api/v1/tasks?" + "&".join(["queue=demo"] * 300)  # 3,313 bytes
    status, _, answer = server.request("GET", long_but_allowed, headers=headers)
    assert status == 200, answer
