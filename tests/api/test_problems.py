"""Every API error is RFC 9457 problem details, with the right status; bad input changes nothing."""

import pytest
from django.test import Client, override_settings

from absurd_core import engine
from absurd_core.models import TaskEvent
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api

PROBLEM = "application/problem+json"


@pytest.fixture
def key(db):
    engine.create_queue("demo")
    return issue_key(Tenant.objects.create(slug="acme", name="Acme"), "op").key


def spawned() -> int:
    return TaskEvent.objects.filter(tenant="acme", kind="spawned").count()


def assert_problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:absurd-control:problem:{kind}"
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def post_raw(path: str, key: str, data: bytes, content_type="application/json"):
    return Client().post(
        f"/api/v1{path}", data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_malformed_json_is_400(key):
    assert_problem(post_raw("/tasks", key, b'{"task": "demo.two_steps",'), 400, "bad-request")
    assert spawned() == 0


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/tasks", {"task": "demo.two_steps", "params": {"note": "a\x00b"}}),
        ("post", "/events", {"queue": "demo", "name": "x", "payload": ["\x00"]}),
        ("get", "/tasks?q=a%00b", None),
    ],
)
def test_nul_characters_are_refused_before_postgresql(key, method, path, body):
    problem = assert_problem(api(method, path, key, body), 400, "bad-request")
    assert "NUL" in problem["detail"]
    assert spawned() == 0


def test_validation_errors_name_each_field(key):
    body = assert_problem(
        api("post", "/tasks", key, {"params": [], "max_attempts": 0}), 422, "validation-error"
    )
    fields = {error["field"] for error in body["errors"]}
    assert {"body.task", "body.max_attempts", "body.params"} <= fields
    assert all(error["message"] and error["type"] for error in body["errors"])
    assert spawned() == 0


def test_missing_and_wrong_keys_are_401_with_a_bearer_challenge(key):
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer ac_nope_nope"}):
        response = Client().get("/api/v1/tasks", **header)
        assert_problem(response, 401, "unauthenticated")
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_paths_and_wrong_methods(key):
    assert_problem(api("get", "/no-such-thing", key), 404, "not-found")
    assert_problem(api("delete", "/tasks", key), 405, "method-not-allowed")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_body_over_the_limit_is_413_and_spawns_nothing(key):
    big = {"task": "demo.two_steps", "params": {"blob": "x" * 2048}}
    body = assert_problem(api("post", "/tasks", key, big), 413, "payload-too-large")
    assert "1024 bytes" in body["detail"]
    assert spawned() == 0
    small = {"task": "demo.two_steps", "params": {"i": 1}}
    assert api("post", "/tasks", key, small).status_code == 201


def test_the_default_limit_is_one_mebibyte(key, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    big = {"task": "demo.two_steps", "params": {"blob": "x" * (1024 * 1024)}}
    assert_problem(api("post", "/tasks", key, big), 413, "payload-too-large")


def test_an_unexpected_failure_is_a_500_problem_without_internals(key, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("config.api.queues.list_queue_info", explode)
    body = assert_problem(api("get", "/queues", key), 500, "server-error")
    assert "secret" not in body["detail"]


def test_the_schema_documents_problems_for_every_operation(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), f"{where} has no summary"
            errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
            assert "500" in errors, where
            if operation.get("security"):
                assert {"401", "403", "429"} <= set(errors), where
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(errors), where
            for status, response in errors.items():
                if path.endswith("/health"):
                    continue
                content = response["content"][PROBLEM]
                assert content["example"]["status"] == int(status), where
