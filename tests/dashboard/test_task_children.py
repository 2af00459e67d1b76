"""The task page's family card (parent link, children counts, collapsible tree, first 200),
the runs list's ``parent:``/``root:`` qualifiers and bulk actions on all children of X."""

import pytest
from django.db import connection
from django.urls import reverse
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.children import PARENT
from absurd_core.queries import children as family_queries
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

RAW_QUEUE = "kidsx"


@pytest.fixture
def world(role_user, client, absurd):
    engine.create_queue("testq")
    engine.create_queue(RAW_QUEUE)
    acme = Tenant.objects.create(slug="acme", name="Acme")
    # A root whose one child (a parent itself) starts three grandchildren on the raw queue.
    root = spawn(
        "test.parent",
        {"task": "test.parent", "children": [
            {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}, {}]}
        ]},
        tenant="acme",
    )  # fmt: skip
    # run(), not drain(): other tests' leftovers on testq are not this test's business.
    assert absurd.run(root).status == "suspended"  # started its child
    (child,) = kids("testq", root.task_id)
    assert absurd.run(child).status == "suspended"  # started the grandchildren
    client.force_login(role_user(tenant=acme, role="operator"))
    return {"root": str(root.task_id), "child": child, "grandchildren": kids(RAW_QUEUE, child)}


def kids(queue, parent):
    query = sql.SQL("select task_id::text from absurd.{} where headers->>%s = %s order by 1")
    with connection.cursor() as cursor:
        cursor.execute(
            query.format(sql.Identifier(f"t_{queue}")).as_string(cursor.connection),
            [PARENT, str(parent)],
        )
        return [row[0] for row in cursor.fetchall()]


def test_the_task_page_links_the_parent_and_shows_counts_and_the_tree(client, world):
    html = client.get(reverse("dashboard:task", args=[world["child"]])).content.decode()
    assert 'id="task-parent"' in html
    assert reverse("dashboard:task", args=[world["root"]]) in html
    assert 'data-state="pending">3 pending' in html
    for grandchild in world["grandchildren"]:
        assert reverse("dashboard:task", args=[grandchild]) in html
    assert f"?q=parent%3A{world['child']}" in html
    root_html = client.get(reverse("dashboard:task", args=[world["root"]])).content.decode()
    assert 'data-state="sleeping">1 sleeping' in root_html
    # The tree reaches the grandchildren under the child's collapsible branch.
    assert f'id="tree-{world["child"]}"' in root_html
    for grandchild in world["grandchildren"]:
        assert f'data-task-id="{grandchild}"' in root_html


def test_the_tree_stops_at_its_limit_and_says_so(client, world, monkeypatch):
    monkeypatch.setattr(family_queries, "TREE_LIMIT", 2)
    html = client.get(reverse("dashboard:task", args=[world["child"]])).content.decode()
    assert html.count("data-task-id=") == 2
    assert 'id="children-truncated"' in html


def test_a_task_without_family_has_no_card(client, world):
    lone = spawn("test.square", {"x": 1}, tenant="acme")
    html = client.get(reverse("dashboard:task", args=[lone.task_id])).content.decode()
    assert "data-family" not in html


def test_runs_list_filters_by_parent_and_root(client, world):
    by_parent = client.get(reverse("dashboard:runs"), {"q": f"parent:{world['child']}"})
    html = by_parent.content.decode()
    for grandchild in world["grandchildren"]:
        assert grandchild in html
    assert f'href="{reverse("dashboard:task", args=[world["root"]])}"' not in html
    by_root = client.get(reverse("dashboard:runs"), {"q": f"root:{world['root']}"}).content
    for task_id in [world["child"], *world["grandchildren"]]:
        assert task_id in by_root.decode()


def test_bulk_cancel_all_children_of_x(client, world):
    data = {"bulk": "cancel:matching", "q": f"parent:{world['child']}"}
    confirm = client.post(reverse("dashboard:runs_bulk"), data).content.decode()
    assert "Cancel 3 tasks matching" in confirm
    as_of = confirm.split('name="as_of" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        reverse("dashboard:runs_bulk"), {**data, "confirm": "yes", "as_of": as_of}
    )
    assert response.status_code == 302
    for grandchild in world["grandchildren"]:
        assert engine.get_task_result(RAW_QUEUE, grandchild).state == "cancelled"
    assert engine.get_task_result("testq", world["child"]).state == "pending"  # woken to see it
    assert engine.get_task_result("testq", world["root"]).state != "cancelled"
