"""Isolation proof: as every role of tenant A, and with A's API key, request every URL
pattern and every API operation with tenant B's ids; nothing of B's may show.

URL patterns come from the resolver and API operations from the OpenAPI schema, so
new pages and endpoints are covered without editing this test.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver

from absurd_core import engine, spawn
from absurd_core.models import DeadLetter, Schedule
from approvals.delivery import send_link
from approvals.requests import create_request
from tenants.api_keys import issue_key
from tenants.models import Membership, Tenant
from tests.core.lifecycle_paths import SqlPath

pytestmark = pytest.mark.django_db(transaction=True)

MARKER = "bsecret7f3"  # appears in every value of B's we plant


@pytest.fixture
def world():
    engine.create_queue("demo")
    # The driver below claims the first due run of testq: start from an empty queue, not
    # one with runs other tests left behind (engine tables outlive a test's flush).
    if engine.queue_exists("testq"):
        engine.drop_queue("testq")
    engine.create_queue("testq")
    a = Tenant.objects.create(slug="acme", name="Acme")
    b = Tenant.objects.create(slug=f"globex-{MARKER}", name=f"Globex {MARKER}")
    b_task = spawn("demo.two_steps", {"i": 1, "note": MARKER}, tenant=b.slug)
    driver = SqlPath()
    try:
        failed = driver.q(
            "select task_id from absurd.spawn_task('testq', 'test.always_fail', %s::jsonb,"
            " %s::jsonb)",
            f'{{"note": "{MARKER}"}}',
            f'{{"headers": {{"tenant": "{b.slug}"}}, "max_attempts": 1}}',
        )[0]["task_id"]
        run = driver.claim()
        driver.fail(run, message=f"failure {MARKER}")
    finally:
        driver.close()
    b_key = issue_key(b, f"key-{MARKER}")
    b_schedule = Schedule.objects.create(
        tenant=b.slug,
        name=f"schedule-{MARKER}",
        task_name="demo.two_steps",
        queue="demo",
        params={"note": MARKER},
        every_seconds=3600,
    )
    # An event B emitted (events belong to queues in Absurd; pages must not show B's payloads).
    engine.emit_event("demo", f"event-{MARKER}", {"note": MARKER})
    b_approval = create_request(
        tenant=b.slug,
        queue="demo",
        task_id=b_task.task_id,
        run_id=None,
        task_name="demo.two_steps",
        step_key="approval-request",
        title=f"Approve {MARKER}",
        description=f"secret {MARKER}",
        approvers=[f"boss-{MARKER}@example.com"],
        policy="any",
        expires_in=timedelta(hours=1),
        context={"note": MARKER},
        reject_on_expiry=True,
    )
    b_token = b_approval.tokens.get()
    send_link(b_token.pk, "request")  # B's link exists (its secret is in B's inbox only)
    b_token.refresh_from_db()
    users = {}
    for role in ("viewer", "operator", "admin"):
        user = get_user_model().objects.create_user(f"a-{role}", password="pw-long-12345")
        Membership.objects.create(user=user, tenant=a, role=role)
        users[role] = user
    return {
        "a_key": issue_key(a, "a-key").key,
        "users": users,
        "b": {
            "slug": b.slug,
            "task_id": str(b_task.task_id),
            "failed_task_id": str(failed),
            "dead_letter_id": DeadLetter.objects.get(task_id=failed).pk,
            "api_key_id": b_key.api_key.pk,
            "tenant_id": b.pk,
            "run_id": str(run["run_id"]),
            "approval_id": b_approval.pk,
            "schedule_id": b_schedule.pk,
            # What A could have seen of B's link: at most an identifier, never the secret.
            "approval_token": b_token.token_hash,
        },
    }


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


# Which of B's ids an admin object_id stands for, by the model in the route.
ADMIN_IDS = {"tenants/tenant/": "tenant_id", "tenants/apikey/": "api_key_id"}


def _fill(route: str, b: dict) -> str:
    """Put B's ids into every parameter of a route (Django path, regex or OpenAPI style)."""

    def value(name: str, kind: str) -> str:
        name = name.lower()
        if name == "object_id":
            model = next((k for k in ADMIN_IDS if k in route), None)
            return str(b[ADMIN_IDS[model]]) if model else str(b["tenant_id"])
        if "approval" in name:
            return str(b["approval_id"])
        if "schedule" in name:
            return str(b["schedule_id"])
        if name == "token":
            return b["approval_token"]
        if "dead" in name or (name in {"id", "pk"} and kind == "int"):
            return str(b["dead_letter_id"])
        if kind == "uuid" or "task" in name:
            return b["task_id"]
        if "run" in name:
            return b["run_id"]
        if "key" in name:
            return str(b["api_key_id"])
        if kind == "int" or name.endswith("_id"):
            return str(b["tenant_id"])
        return b["slug"]

    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m[1], "str"), route)
    route = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: value(m[2], m[1] or "str"), route)
    route = re.sub(r"\{(\w+)\}", lambda m: value(m[1], "str"), route)
    route = route.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + route.lstrip("/")


def _denied(response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    return response.status_code == 302 and "/login/" in response.get("Location", "")


def _clean(response) -> bool:
    body = b"".join(response) if response.streaming else response.content
    return MARKER.encode() not in body


def test_every_page_as_every_role_of_a_shows_nothing_of_b(client, world):
    routes = sorted(set(_walk(get_resolver().url_patterns)))
    assert len(routes) > 20  # the admin and the dashboard are really enumerated
    for role, user in world["users"].items():
        client.force_login(user)
        for route in routes:
            path = _fill(route, world["b"])
            response = client.get(path)
            assert _clean(response), f"{role} saw B's data at {path}"
            if "<" in route or "(?P" in route:
                assert _denied(response), f"{role} got {response.status_code} at {path}"
        client.logout()


def valid_body(schema: dict, operation: dict) -> dict:
    """A body that passes validation, so the operation reaches its tenant check."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return {}

    def resolve(node):
        while "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        return node

    body_schema = resolve(content["schema"])
    samples = {"string": "someone@example.com", "integer": 1, "number": 1, "boolean": True}
    body = {}
    for name in body_schema.get("required", []):
        prop = resolve(body_schema["properties"][name])
        if prop.get("format") == "date-time":
            body[name] = "2030-01-01T00:00:00Z"
            continue
        body[name] = prop["enum"][0] if "enum" in prop else samples.get(prop.get("type"), {})
    return body


def test_every_api_operation_with_a_key_of_a_shows_nothing_of_b(client, world):
    schema = client.get("/api/v1/openapi.json").json()
    headers = {"Authorization": f"Bearer {world['a_key']}"}
    operations = [
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert operations
    for method, route in operations:
        path = _fill(route, world["b"])
        response = getattr(client, method)(
            path,
            data=valid_body(schema, schema["paths"][route][method]) if method != "get" else None,
            content_type="application/json",
            headers=headers,
        )
        assert _clean(response), f"{method.upper()} {path} showed B's data"
        if "{" in route:
            assert _denied(response), f"{method.upper()} {path}: {response.status_code}"
