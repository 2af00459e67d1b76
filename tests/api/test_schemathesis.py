"""Schemathesis against the live OpenAPI schema, with a real key and its default checks.

The schema is the one the running application serves at /api/v1/openapi.json,
loaded through its WSGI handler, and every generated request goes through the
whole Django stack (middleware, authentication, PostgreSQL). Each response is
checked against the schema (status code, content type, body, headers) and
must not be a 5xx; every schema-valid request must be accepted and every
schema-violating one refused (positive_data_acceptance, negative_data_rejection),
with NUL characters generated like any other (the schema says where the server
refuses them). The stateful run follows the schema's links (spawn a task, then
read, cancel and retry it).
"""

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck

from absurd_core import engine
from tenants.api_keys import issue_key
from tenants.models import RateLimitPolicy, Tenant

SETTINGS = hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
# Schemathesis's defaults, stated so that a later change of them cannot quietly weaken the run:
# positive and negative data, NUL characters on, the data-acceptance checks enabled.
assert schema.config.generation.allow_x00
assert {mode.value for mode in schema.config.generation.modes} == {"positive", "negative"}
assert schema.config.checks.negative_data_rejection.enabled
assert schema.config.checks.positive_data_acceptance.enabled


@pytest.fixture
def same_connection():
    """Keep the test's connection open across requests, as Django's test client does:
    a bare WSGI handler closes it when each request finishes."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth(db, same_connection):
    for queue in ("demo", "testq"):
        engine.create_queue(queue)
    tenant = Tenant.objects.create(slug="fuzz", name="Fuzz", is_platform=True)
    # Fuzzing spawns faster than the default rate allows; 429s are valid but would hide paths.
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=10_000, spawn_burst=10_000)
    return {"Authorization": f"Bearer {issue_key(tenant, 'fuzz', role='admin').key}"}


@schema.parametrize()
@SETTINGS
def test_every_operation(case, auth):
    case.call_and_validate(headers=auth)


def test_stateful_links(auth):
    """Spawn, then follow the links: get, history, cancel and retry the spawned task."""
    schema.config.headers = auth
    machine = schema.as_state_machine()
    spawned = []

    class Workflow(machine):
        # Every scenario starts from the same database: generation follows responses
        # (links), and hypothesis needs the same choices to lead to the same data.
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def after_call(self, response, case):
            super().after_call(response, case)
            if case.method == "POST" and case.path == "/api/v1/tasks":
                spawned.append(response.status_code)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response)

    try:
        Workflow.run(
            settings=hypothesis.settings(
                SETTINGS, max_examples=40, stateful_step_count=8, phases=[hypothesis.Phase.generate]
            )
        )
    finally:
        schema.config.headers = None
    # The run reached a successful spawn, the start of the links it follows.
    assert 201 in spawned
