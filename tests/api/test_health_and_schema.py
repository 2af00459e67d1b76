import pytest

pytestmark = pytest.mark.django_db


def test_health_reports_database_and_schema(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "absurd_schema": "0.5.1",
        "absurd_pinned": "0.5.1",
    }


def test_health_is_503_on_a_schema_mismatch(client, django_db_blocker):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "create or replace function absurd.get_schema_version() returns text"
            " language sql as $$ select '0.4.0'::text $$"
        )
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["absurd_schema"] == "0.4.0"
    # the test transaction rolls the function back


def test_openapi_schema_documents_health_and_plugin_routes(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Absurd Control API"
    assert "/api/v1/health" in schema["paths"]
    assert "/api/v1/plugins/demo/tasks" in schema["paths"]
    assert schema["paths"]["/api/v1/health"]["get"]["summary"] == "Service health"


def test_operation_ids_are_kept_where_the_routers_moved(client):
    # The routers moved to config/api/ (issue 15, item 4); published operation ids did not.
    ops = {
        op["operationId"]
        for item in client.get("/api/v1/openapi.json").json()["paths"].values()
        for op in item.values()
    }
    assert {
        "absurd_core_api_health",
        "absurd_core_tasks_api_spawn_task",
        "absurd_core_events_api_emit_event",
        "absurd_core_dead_letters_api_retry",
        "absurd_core_queues_api_get_queue",
        "approvals_api_decide_approval",
    } <= ops
    assert not any(op.startswith("config_") for op in ops)


def test_the_old_problems_module_still_serves_plugins():
    # docs/plugins.md names config.problems.Problem; it re-exports config.api.problems.
    from config import problems as old
    from config.api import problems

    assert old.Problem is problems.Problem
    assert old.problem_response is problems.problem_response


def test_docs_page_is_served(client):
    assert client.get("/api/v1/docs").status_code == 200


def test_plugin_router_is_mounted_behind_api_key_auth(client):
    from tenants.api_keys import issue_key
    from tenants.models import Tenant

    assert client.get("/api/v1/plugins/demo/tasks").status_code == 401
    key = issue_key(Tenant.objects.create(slug="acme", name="Acme"), "t").key
    response = client.get("/api/v1/plugins/demo/tasks", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    names = {item["name"] for item in response.json()}
    assert {"demo.two_steps", "demo.wait_event", "demo.flaky", "demo.expense_approval"} <= names
