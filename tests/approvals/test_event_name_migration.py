"""Migration 0002: requests that existed before names were random keep approval:<id>.

Their workflows may be waiting on that name right now; the backfill is what lets
request_approval find it and the decision emit it (tests/tenants/test_isolation_events.py
runs such a request's workflow to completion).
"""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from approvals.models import ApprovalRequest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("approvals", "0001_approvals")]
AFTER = [("approvals", "0002_approval_event_name")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def latest_schema_after():
    """Migrating back to approvals 0001 also unapplies every later migration that depends
    on it (approvals 0003-0005, metrics 0003); migrating forward to 0002 does not bring
    them back. Restore the latest schema, or every later test of the session runs on this
    one (it did: a long tenant's approval then failed on the old metrics index)."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_requests_keep_their_old_event_name_and_new_ones_get_a_random_one():
    old_apps = migrate(BEFORE)
    try:
        Old = old_apps.get_model("approvals", "ApprovalRequest")
        made = [
            Old.objects.create(
                tenant="acme",
                queue="demo",
                task_id=uuid.uuid4(),
                task_name="demo.x",
                step_key=f"approval-request#{i}",
                title="t",
                expires_at=timezone.now() + timedelta(days=1),
            ).pk
            for i in range(2)
        ]
    finally:
        migrate(AFTER)
    names = dict(ApprovalRequest.objects.filter(pk__in=made).values_list("pk", "event_name"))
    assert names == {pk: f"approval:{pk}" for pk in made}
    task_id = uuid.uuid4()
    new = ApprovalRequest.objects.create(
        tenant="acme", queue="demo", task_id=task_id, task_name="demo.x", step_key="s",
        title="t", expires_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    assert new.event_name.startswith("approval:") and new.event_name.endswith(f":{task_id}")
