"""GET /api/v1/tasks: filters, search, keyset pages, tenant scoping."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine
from absurd_core import spawn as spawn_task
from absurd_core.queries.task_list import decode_cursor, encode_cursor, uuid7_floor
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.helpers import api


@pytest.fixture
def world(db, queue_name):
    # Slugs unique per test: other tests leave engine rows behind in shared queues.
    slug = f"acme{uuid.uuid4().hex[:8]}"
    acme = Tenant.objects.create(slug=slug, name="Acme")
    other = Tenant.objects.create(slug=f"other{uuid.uuid4().hex[:8]}", name="Other")

    def spawn(name="job", params=None, tenant=slug, key=None):
        return spawn_task(
            name, params or {}, tenant=tenant, queue=queue_name, idempotency_key=key
        ).task_id

    ids = [spawn(params={"n": n, "customer": {"id": str(n % 2)}}) for n in range(7)]
    ids.append(spawn(name="other-job", key="order-7"))
    theirs = spawn(tenant=other.slug)
    return {
        "queue": queue_name,
        "key": issue_key(acme, "v", role="viewer").key,
        "other_key": issue_key(other, "o", role="viewer").key,
        "ids": ids,
        "theirs": theirs,
        "spawn": spawn,
    }


def listed(world, query, key=None):
    response = api("get", f"/tasks?queue={world['queue']}&{query}", key or world["key"])
    assert response.status_code == 200, response.content
    return response.json()


def test_newest_first_in_keyset_pages_that_cover_everything_once(world):
    seen, cursor = [], ""
    for _ in range(10):
        page = listed(world, f"limit=3&cursor={cursor}" if cursor else "limit=3")
        seen += [item["task_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [str(i) for i in reversed(world["ids"])]


def test_a_tenant_sees_only_its_tasks(world):
    mine = {item["task_id"] for item in listed(world, "limit=200")["items"]}
    assert str(world["theirs"]) not in mine and len(mine) == 8
    theirs = listed(world, "limit=200", key=world["other_key"])["items"]
    assert [item["task_id"] for item in theirs] == [str(world["theirs"])]


def test_filters_by_state_and_task_name(world):
    engine.cancel_task(world["queue"], world["ids"][0])
    page = listed(world, "state=cancelled")
    assert [item["task_id"] for item in page["items"]] == [str(world["ids"][0])]
    assert listed(world, "state=pending&state=cancelled&limit=200")["items"].__len__() == 8
    names = {item["task_name"] for item in listed(world, "task=other-job")["items"]}
    assert names == {"other-job"}


def test_search_by_id_params_and_idempotency_key(world):
    target = world["ids"][3]
    assert [i["task_id"] for i in listed(world, f"q={target}")["items"]] == [str(target)]
    by_param = listed(world, "q=n:3")["items"]
    assert [i["task_id"] for i in by_param] == [str(target)]
    nested = listed(world, "q=params.customer.id:1&limit=200")["items"]
    assert {i["task_id"] for i in nested} == {str(world["ids"][n]) for n in (1, 3, 5)}
    both = listed(world, "q=params.customer.id:1 n:5")["items"]
    assert [i["task_id"] for i in both] == [str(world["ids"][5])]
    assert [i["idempotency_key"] for i in listed(world, "q=order-7")["items"]] == ["order-7"]
    assert listed(world, f"q=headers.tenant:{Tenant.objects.first().slug}x")["items"] == []


def test_a_params_search_reads_a_window_a_page_and_says_how_far_back(world, settings):
    settings.ABSURD_SEARCH_WINDOW = 3
    # Newest first: other-job, n=6, n=5 fill the first window; n=3 is in the second.
    first = listed(world, "q=n:3")
    assert first["items"] == [] and first["next_cursor"]
    assert first["searched_back_to"] is not None
    older = listed(world, f"q=n:3&cursor={first['next_cursor']}")
    assert [i["task_id"] for i in older["items"]] == [str(world["ids"][3])]
    # A search that is not only params values reads no window.
    assert listed(world, f"q={world['ids'][0]}")["searched_back_to"] is None


def test_search_by_run_id(world):
    target = world["ids"][2]
    with connection.cursor() as cursor:
        query = sql.SQL("select run_id from absurd.{} where task_id = %s").format(
            sql.Identifier(f"r_{world['queue']}")
        )
        cursor.execute(query.as_string(cursor.connection), [target])
        (run_id,) = cursor.fetchone()
    assert [i["task_id"] for i in listed(world, f"q={run_id}")["items"]] == [str(target)]


def test_spawn_time_range(world):
    now = datetime.now(UTC)
    assert len(listed(world, "limit=200&spawned_after=" + _iso(now - timedelta(hours=1)))["items"])
    assert listed(world, "spawned_before=" + _iso(now - timedelta(hours=1)))["items"] == []
    assert listed(world, "spawned_after=" + _iso(now + timedelta(hours=1)))["items"] == []


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "query, status",
    [
        ("state=exploded", 422),
        ("limit=0", 422),
        ("limit=100000", 422),
        ("cursor=not-a-cursor!", 422),
    ],
)
def test_bad_filters_are_422_problems(world, query, status):
    response = api("get", f"/tasks?queue={world['queue']}&{query}", world["key"])
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status and response.json()["detail"]


def test_unknown_or_hostile_queue_is_404(world):
    for queue in ("nope", "a%3B%20drop%20table%20x"):
        response = api("get", f"/tasks?queue={queue}", world["key"])
        assert response.status_code == 404
        assert response.json()["type"].endswith(":not-found")


def test_search_takes_odd_terms_literally(world):
    assert listed(world, "q=%22unclosed")["items"] == []
    assert listed(world, "q=params.:x")["items"] == []


def test_cursor_round_trip_and_uuid7_floor():
    task_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(task_id)) == task_id
    moment = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    assert uuid7_floor(moment).int >> 80 == int(moment.timestamp() * 1000)
