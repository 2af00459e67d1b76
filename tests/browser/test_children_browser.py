"""The task page's family card in a real browser, at desktop width and at 390 px: the
parent link, the children counts, and the collapsible tree that stays open across polls."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from playwright.sync_api import expect
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.children import PARENT
from tenants.models import Membership, Tenant
from tests.core.children_worker import InProcessWorker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-password-1"
RAW_QUEUE = "kidsx"


def kids(queue, parent):
    query = sql.SQL("select task_id::text from absurd.{} where headers->>%s = %s order by 1")
    with connection.cursor() as cursor:
        cursor.execute(
            query.format(sql.Identifier(f"t_{queue}")).as_string(cursor.connection),
            [PARENT, str(parent)],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def tree():
    """A sleeping root, whose child (a parent itself) waits for three grandchildren."""
    engine.create_queue("testq")
    engine.create_queue(RAW_QUEUE)
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    user = get_user_model().objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role="operator")
    root = spawn(
        "test.parent",
        {"task": "test.parent", "children": [
            {"task": "ext.job", "queue": RAW_QUEUE, "children": [{}, {}, {}]}
        ]},
        tenant="acme",
    )  # fmt: skip
    worker = InProcessWorker("testq")
    worker.run_due()
    worker.close()
    (child,) = kids("testq", root.task_id)
    return {"root": str(root.task_id), "child": child, "grandchildren": kids(RAW_QUEUE, child)}


def log_in(page, live_server, path):
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}{path}")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_tree_on_the_task_page(live_server, page, tree, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, f"/tasks/{tree['root']}/")
    card = page.locator("[data-family]")
    expect(card).to_contain_text("Children (1)")
    expect(page.locator("#wait-children")).to_be_visible()
    expect(page.locator("#children-counts")).to_contain_text("1 sleeping")
    branch = page.locator(f"#tree-{tree['child']}")
    grandchildren = branch.locator("li[data-task-id]")
    expect(grandchildren.first).to_be_hidden()  # collapsed until opened
    branch.locator("summary").click()
    expect(grandchildren).to_have_count(3)
    expect(grandchildren.first).to_be_visible()
    # The page polls every 2 s; an opened branch stays open across a poll.
    with page.expect_response(lambda r: r.url.endswith(f"/tasks/{tree['root']}/live")):
        pass
    expect(grandchildren.first).to_be_visible()
    # Nothing wider than the screen at 390 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=f"tests/browser/artifacts/children-{width}.png", full_page=True)

    # Into the child: its parent is a link back to the root; its three children are listed.
    card.get_by_role("link", name="test.parent").first.click()
    expect(page).to_have_url(f"{live_server.url}/tasks/{tree['child']}/")
    expect(page.locator("#children-counts")).to_contain_text("3 pending")
    expect(page.locator("#children-tree li[data-task-id]")).to_have_count(3)
    page.locator("#task-parent a").click()
    expect(page).to_have_url(f"{live_server.url}/tasks/{tree['root']}/")
    # The runs list, filtered to all children of the child.
    page.goto(f"{live_server.url}/tasks/{tree['child']}/")
    page.locator("#children-runs-link").click()
    rows = page.locator("#runs-rows tr[data-task]")
    expect(rows).to_have_count(3)
