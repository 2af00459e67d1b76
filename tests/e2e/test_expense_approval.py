"""Spawn demo.expense_approval, receive the email over SMTP, approve in Chromium, and
see the workflow resume at once: the worker's poll interval is far longer than the wait."""

import re

import pytest
from playwright.sync_api import expect

from absurd_core import engine, spawn
from tests.helpers import WorkerProcess, subprocess_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"(http://\S+/approvals/[A-Za-z0-9_-]{43})")


def test_emailed_link_approves_and_the_workflow_resumes_at_once(live_server, browser, smtp_inbox):
    for queue in ("demo", "approvals"):  # other transactional tests may have left tasks in them
        engine.drop_queue(queue)
        engine.create_queue(queue)
    env = subprocess_env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_inbox.port),
        BASE_URL=live_server.url,
    )
    spawned = spawn(
        "demo.expense_approval",
        {"amount": 99, "requester": "ann", "approvers": ["boss@example.com"]},
        tenant="acme",
    )
    # Poll interval 300 s: only the NOTIFY of the emitted event can wake the worker in time.
    worker_args = ("--queue", "demo", "--queue", "approvals", "--poll-interval", "300")
    with WorkerProcess(*worker_args, env=env):
        (message,) = smtp_inbox.wait(1)
        assert message["To"] == "boss@example.com"
        assert message["Subject"] == "Approval needed: Expense of 99 for ann"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        (link,) = LINK.findall(text)
        assert link in html

        # A phone-sized browser, as an approver on the move would use.
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(link)
        expect(page.get_by_role("heading", name="Expense of 99 for ann")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_label("Comment (optional)").fill("Looks right")
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_contain_text("Your answer was recorded: Approve")

        def finished():
            result = engine.get_task_result("demo", spawned.task_id)
            return result if result.state == "completed" else None

        result = wait_for(finished, timeout=10)
        context.close()
    assert result.result["status"] == "paid"
    assert result.result["decided_by"] == ["boss@example.com"]
