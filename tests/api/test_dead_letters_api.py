"""Dead letters over the API: scoped, role- and scope-checked, idempotent actions."""

import json

import pytest
from django.db import connection
from django.test import Client

from absurd_core import engine
from absurd_core.models import DeadLetter, OperatorAction
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import raw_connection


def failed_task(tenant: str) -> DeadLetter:
    """A task that failed terminally through the engine's own functions."""
    with raw_connection() as conn:
        (task_id,) = conn.execute(
            "select task_id from absurd.spawn_task('testq', 'test.always_fail', '{}'::jsonb,"
            " %s::jsonb)",
            (json.dumps({"headers": {"tenant": tenant}, "max_attempts": 1}),),
        ).fetchone()
        (run_id,) = conn.execute(
            "select run_id from absurd.claim_task('testq', 'w', 60, 10) where task_id = %s",
            (task_id,),
        ).fetchone()
        conn.execute(
            'select absurd.fail_run(\'testq\', %s, \'{"name": "E", "message": "boom"}\', null)',
            (run_id,),
        )
    return DeadLetter.objects.get(task_id=task_id)


@pytest.fixture
def world(transactional_db):
    engine.drop_queue("testq")
    engine.create_queue("testq")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    other = Tenant.objects.create(slug="other", name="Other")
    yield {
        "operator": issue_key(acme, "op", role="operator").key,
        "viewer": issue_key(acme, "v", role="viewer").key,
        "narrow": issue_key(acme, "n", role="operator", scopes=["tasks:read"]).key,
        "other": issue_key(other, "o", role="admin").key,
        "mine": failed_task("acme"),
        "theirs": failed_task("other"),
    }
    engine.drop_queue("testq")


def call(method, path, key, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(Client(), method)(f"/api/v1/dead-letters{path}", **kwargs)


def test_list_and_get_are_tenant_scoped(world):
    listed = call("get", "?state=open", world["viewer"]).json()
    assert [d["id"] for d in listed["items"]] == [world["mine"].pk]
    detail = call("get", f"/{world['mine'].pk}", world["viewer"]).json()
    assert detail["error_name"] == "E" and detail["error_message"] == "boom"
    assert call("get", f"/{world['theirs'].pk}", world["viewer"]).status_code == 404


def test_retry_takes_effect_once(world):
    path = f"/{world['mine'].pk}/retry"
    first = call("post", path, world["operator"], {"note": "fixed the bug"})
    assert first.status_code == 200 and first.json()["applied"] is True
    assert first.json()["dead_letter"]["resolved_by"] == "key:op"
    again = call("post", path, world["operator"], {})
    assert again.status_code == 200 and again.json()["applied"] is False
    assert "Already retried by key:op" in again.json()["message"]
    state = engine.get_task_result("testq", world["mine"].task_id).state
    assert state == "pending"
    audited = OperatorAction.objects.filter(task_id=world["mine"].task_id)
    assert [(a.actor, a.action) for a in audited] == [("key:op", "retry_dead_letter")]


def test_discard_then_retry_changes_nothing_more(world):
    path = f"/{world['mine'].pk}"
    assert call("post", path + "/discard", world["operator"], {"note": "obsolete"}).json()[
        "applied"
    ]
    retried = call("post", path + "/retry", world["operator"], {}).json()
    assert retried["applied"] is False and retried["dead_letter"]["state"] == "discarded"
    assert engine.get_task_result("testq", world["mine"].task_id).state == "failed"


@pytest.mark.parametrize(
    ("key", "target", "status"),
    [("viewer", "mine", 403), ("narrow", "mine", 403), ("other", "mine", 404)],
)
def test_refusals_change_nothing(world, key, target, status):
    response = call("post", f"/{world[target].pk}/retry", world[key], {})
    assert response.status_code == status
    world[target].refresh_from_db()
    assert world[target].state == "open"


def test_api_actions_go_through_the_dashboards_audited_path(world):
    """One audited path (absurd_core.actions.dead_letters.apply): the API's rows say via api,
    a discard needs no note here (the dashboard asks for one), and max_attempts is passed."""
    mine, path = world["mine"], f"/{world['mine'].pk}"
    discarded = call("post", path + "/discard", world["operator"], {})
    assert discarded.status_code == 200 and discarded.json()["applied"] is True
    (row,) = OperatorAction.objects.filter(task_id=mine.task_id)
    assert (row.action, row.detail) == (
        "discard_dead_letter",
        {"via": "api", "dead_letter": mine.pk, "note": ""},
    )

    theirs_op = issue_key(Tenant.objects.get(slug="other"), "op2", role="operator").key
    theirs = world["theirs"]
    retried = call(
        "post", f"/{theirs.pk}/retry", theirs_op, {"spawn_new": True, "max_attempts": 7}
    ).json()
    new_id = retried["retried_task_id"]
    assert retried["applied"] and new_id != str(theirs.task_id)
    (row,) = OperatorAction.objects.filter(task_id=theirs.task_id)
    assert row.detail == {
        "via": "api",
        "dead_letter": theirs.pk,
        "note": "",
        "spawn_new": True,
        "retried_task_id": new_id,
    }
    with connection.cursor() as cur:
        cur.execute("select max_attempts from absurd.t_testq where task_id = %s", [new_id])
        assert cur.fetchone() == (7,)


def test_a_missing_dead_letter_is_404_and_changes_nothing(world):
    response = call("post", "/999999999/discard", world["operator"], {})
    assert response.status_code == 404 and "No dead letter 999999999." in response.json()["detail"]
    assert not OperatorAction.objects.exists()
