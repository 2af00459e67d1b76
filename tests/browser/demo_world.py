"""Demo-like data for the layout and screenshot browser tests: the demo bootstrap (tenant
``demo``, its admin, the demo workflows) run by an in-process worker, plus a second tenant,
a dead letter, a schedule and an approval link, so every page has something to show."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection

from absurd_core import engine
from absurd_core.actions.schedules import create_schedule
from plugins.demo.bootstrap import bootstrap_demo
from tenants.models import Tenant
from tenants.resolution import principal_for_user
from tests.api.test_dead_letters_api import failed_task
from tests.core.children_worker import InProcessWorker
from tests.helpers import PASSWORD, role_user

USERNAME = "admin"


@dataclass(frozen=True)
class DemoWorld:
    fan_out_task: str
    waiting_task: str
    approval_path: str


def _task_id(key: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_id::text from absurd.t_demo where idempotency_key like %s", [f"%/{key}"]
        )
        return cursor.fetchone()[0]


def build_demo_world() -> DemoWorld:
    for queue in ("demo", "testq"):
        engine.drop_queue(queue)  # other transactional tests may have left tasks in them
    engine.create_queue("testq")
    mail.outbox = []
    bootstrap_demo()
    admin = get_user_model().objects.get(username=USERNAME)
    admin.set_password(PASSWORD)
    admin.save()
    role_user(VIEWER, "demo", "viewer")
    Tenant.objects.get_or_create(slug="globex", defaults={"name": "Globex Corporation"})
    for queue in ("demo", "approvals"):  # the demo workflows, then the approval's email
        worker = InProcessWorker(queue)
        try:
            worker.run_due()
        finally:
            worker.close()
    failed_task("demo")
    session: dict = {"absurd_control.active_tenant": "demo"}
    create_schedule(
        principal_for_user(admin, session),
        name="nightly-report",
        task="demo.two_steps",
        cron="0 3 * * *",
        params={"i": 3},
    )
    links = [
        m
        for message in mail.outbox
        for m in re.findall(r"https?://\S+/approvals/\S+", message.body)
    ]
    assert links, "the demo expense approval sent no email"
    approval_path = "/approvals/" + links[0].split("/approvals/", 1)[1].rstrip(".>)")
    return DemoWorld(
        fan_out_task=_task_id("bootstrap:fan_out"),
        waiting_task=_task_id("bootstrap:wait_event"),
        approval_path=approval_path,
    )


#: Who looks at a page: the demo admin acting as the demo tenant or for all tenants, a
#: viewer of demo (the 403 page), or nobody logged in.
AS_DEMO, AS_ALL, AS_VIEWER, ANONYMOUS = "demo", "all", "viewer", "anonymous"
VIEWER = "vic"

#: Every page the screenshot harness and the no-horizontal-scroll test visit: name, who.
PAGES = {
    "login": ANONYMOUS,
    "overview": AS_DEMO,
    "overview-all-tenants": AS_ALL,
    "runs": AS_DEMO,
    "runs-filtered": AS_DEMO,
    "task": AS_DEMO,
    "children": AS_DEMO,
    "dead-letters": AS_DEMO,
    "queues": AS_ALL,
    "schedules": AS_DEMO,
    "workers": AS_ALL,
    "events": AS_DEMO,
    "approvals": AS_DEMO,
    "approval-decision": ANONYMOUS,
    "settings": AS_DEMO,
    "settings-picker": AS_ALL,
    "error-403": AS_VIEWER,
    "error-404": AS_DEMO,
}


def page_path(world: DemoWorld, name: str) -> str:
    return {
        "login": "/login/",
        "overview": "/",
        "overview-all-tenants": "/",
        "runs": "/runs/",
        "runs-filtered": "/runs/?queue=demo&state=completed&state=sleeping&range=24h",
        "task": f"/tasks/{world.waiting_task}/",
        "children": f"/tasks/{world.fan_out_task}/",
        "dead-letters": "/dead-letters/",
        "queues": "/queues/",
        "schedules": "/schedules/",
        "workers": "/workers/",
        "events": "/events/",
        "approvals": "/approval-requests/",
        "approval-decision": world.approval_path,
        "settings": "/settings/",
        "settings-picker": "/settings/",
        "error-403": "/settings/",
        "error-404": "/no/such/page/",
    }[name]


def open_as(page, base_url: str, who: str) -> None:
    """Log in (at the page's current width) as ``who`` and pick the tenant."""
    if who == ANONYMOUS:
        return
    username = VIEWER if who == AS_VIEWER else USERNAME
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")
    if who == AS_DEMO:
        # The admin is a superuser: "all tenants" first. Switch through the form's POST.
        with page.expect_navigation():
            page.evaluate(
                """() => { const s = document.getElementById('tenant-switch');
                           s.value = 'demo'; s.form.requestSubmit(); }"""
            )
