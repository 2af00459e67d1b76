"""Dead-letter groups: error class plus a normalised message, the same for the page and
the API, and group bulk actions act on exactly the group's members."""

import json
import uuid

import pytest
from django.db import connection
from django.db.models import TextField, Value
from django.db.models.sql import Query
from django.test import Client
from django.urls import reverse

from absurd_core.models import DeadLetter
from absurd_core.queries.dead_letters import (
    DeadLetterFilter,
    filtered,
    groups,
    normalised_message,
)
from absurd_core.tenancy import TenantScope
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.dashboard.test_dead_letters_page import fail_task

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PAGE = reverse("dashboard:dead_letters")
BULK = reverse("dashboard:dead_letters_bulk")


def _sql_normalise(message):
    """The SQL expression evaluated on its own, as the GROUP BY evaluates it."""
    expression = normalised_message(Value(message, output_field=TextField()))
    query = Query(None)
    compiler = query.get_compiler(connection=connection)
    sql, params = expression.resolve_expression(query).as_sql(compiler, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"select {sql}", params)
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    ("message", "folded"),
    [
        ("attempt 2 of 2", "attempt <n> of <n>"),
        ("attempt 15 of 15", "attempt <n> of <n>"),
        ("timed out after 3.25 s", "timed out after <n> s"),
        (f"order {uuid.UUID(int=7)} not found", "order <uuid> not found"),
        ("object at 0x7f3a2b10 is gone", "object at <hex> is gone"),
        ("commit deadbeef1234 missing", "commit <hex> missing"),
        ("no user 'alice' in \"sales\"", "no user '…' in \"…\""),
        ("deadline exceeded", "deadline exceeded"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalised_message_folds_what_varies(message, folded):
    assert _sql_normalise(message) == folded
    # Idempotent: the folded text is its own group key.
    assert _sql_normalise(folded) == folded


@pytest.fixture
def world(queue_name):
    Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="globex", name="Globex")
    attempts = [
        fail_task(queue_name, "acme", error=("Timeout", f"attempt {n} of {n}")) for n in (2, 5, 9)
    ]
    other_class = fail_task(queue_name, "acme", error=("ValueError", "attempt 2 of 2"))
    other_text = fail_task(queue_name, "acme", error=("Timeout", "gave up"))
    theirs = fail_task(queue_name, "globex", error=("Timeout", "attempt 3 of 3"))
    return {
        "queue": queue_name,
        "attempts": attempts,
        "other_class": other_class,
        "other_text": other_text,
        "theirs": theirs,
    }


def test_numbers_fold_into_one_group_but_error_classes_do_not(world):
    found = {g.key: g for g in groups(TenantScope("acme"))}
    assert {key: g.count for key, g in found.items()} == {
        ("test.always_fail", "Timeout", "attempt <n> of <n>"): 3,
        ("test.always_fail", "ValueError", "attempt <n> of <n>"): 1,
        ("test.always_fail", "Timeout", "gave up"): 1,
    }
    folded = found[("test.always_fail", "Timeout", "attempt <n> of <n>")]
    assert folded.example_message in {"attempt 2 of 2", "attempt 5 of 5", "attempt 9 of 9"}
    # The group key selects exactly its members, given folded or as one exact message.
    for message in ("attempt <n> of <n>", "attempt 5 of 5"):
        flt = DeadLetterFilter(group=("test.always_fail", "Timeout", message))
        assert set(filtered(TenantScope("acme"), flt).values_list("pk", flat=True)) == {
            d.pk for d in world["attempts"]
        }


def test_the_page_shows_the_folded_group_and_its_link_selects_its_members(client, role_user, world):
    client.force_login(role_user("vi", Tenant.objects.get(slug="acme"), "viewer"))
    html = client.get(PAGE).content.decode()
    groups_html = html.split('id="dl-groups"', 1)[1].split("</table>", 1)[0]
    assert groups_html.count("data-group=") == 3
    assert "attempt &lt;n&gt; of &lt;n&gt;" in groups_html
    row = groups_html.split('data-error-name="Timeout"', 1)[1].split("</tr>", 1)[0]
    link = row.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    listed = client.get(PAGE + link).content.decode()
    ids = {int(p.split('"', 1)[0]) for p in listed.split('data-dead-letter="')[1:]}
    assert ids == {d.pk for d in world["attempts"]}


def test_group_bulk_discard_acts_on_exactly_the_folded_group(client, role_user, world):
    client.force_login(role_user("op", Tenant.objects.get(slug="acme"), "operator"))
    group = {"state": "open", "task": "test.always_fail", "error_name": "Timeout",
             "error": "attempt <n> of <n>"}  # fmt: skip
    ask = client.post(BULK, {"op": "discard:matching", **group}, headers=HTMX)
    html = ask.content.decode()
    assert 'data-count="3"' in html
    up_to = int(html.split('name="up_to" value="', 1)[1].split('"', 1)[0])
    done = client.post(
        BULK,
        {"op": "discard:matching", **group, "up_to": up_to, "confirmed": "1", "note": "flaky"},
        headers=HTMX,
    )
    assert json.loads(done["HX-Trigger"])["toast"]["text"] == "Discarded 3 dead letters."
    discarded = set(DeadLetter.objects.filter(state="discarded").values_list("pk", flat=True))
    assert discarded == {d.pk for d in world["attempts"]}
    for key in ("other_class", "other_text", "theirs"):
        assert DeadLetter.objects.get(pk=world[key].pk).state == "open"


def test_api_groups_the_same_way(world):
    key = issue_key(Tenant.objects.get(slug="acme"), "v", role="viewer").key
    response = Client().get("/api/v1/dead-letters/groups", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(g["task_name"], g["error_name"], g["error_message"], g["count"]) for g in items] == [
        (*g.key, g.count) for g in groups(TenantScope("acme"))
    ]
    assert items[0]["error_message"] == "attempt <n> of <n>" and items[0]["count"] == 3
    # Another tenant's key sees only its own group.
    other = issue_key(Tenant.objects.get(slug="globex"), "g", role="viewer").key
    theirs = Client().get("/api/v1/dead-letters/groups", HTTP_AUTHORIZATION=f"Bearer {other}")
    assert [(g["error_message"], g["count"]) for g in theirs.json()["items"]] == [
        ("attempt <n> of <n>", 1)
    ]


def test_api_groups_by_queue_and_refuses_a_repeated_queue(world):
    key = issue_key(Tenant.objects.get(slug="acme"), "v", role="viewer").key
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    url = "/api/v1/dead-letters/groups"
    mine = Client().get(f"{url}?queue={world['queue']}", **auth).json()["items"]
    assert sum(g["count"] for g in mine) == 5
    assert Client().get(f"{url}?queue=elsewhere", **auth).json()["items"] == []
    twice = Client().get(f"{url}?queue={world['queue']}&queue=x", **auth)
    assert twice.status_code == 422
    assert twice["Content-Type"].startswith("application/problem+json")
