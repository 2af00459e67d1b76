"""Retry a dead letter from the page: select it, confirm the count, see the toast, row gone."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from absurd_core import engine
from absurd_core.models import DeadLetter, OperatorAction
from tenants.models import Membership, Tenant
from tests.api.test_dead_letters_api import failed_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def dead_letters():
    engine.drop_queue("testq")  # other transactional tests may have left tasks in it
    engine.create_queue("testq")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="other", name="Other")
    user = get_user_model().objects.create_user("ann", password="a-long-password-1")
    Membership.objects.create(user=user, tenant=tenant, role="operator")
    yield [failed_task("acme"), failed_task("acme"), failed_task("other")]
    engine.drop_queue("testq")


def _log_in(page, base_url):
    page.goto(f"{base_url}/dead-letters/")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dead letters", exact=True)).to_be_visible()


def test_retry_a_dead_letter_from_the_page(live_server, page, dead_letters):
    mine, kept, theirs = dead_letters
    _log_in(page, live_server.url)

    rows = page.locator("#dl-list tbody tr")
    expect(rows).to_have_count(2)  # the other tenant's is not listed
    group = page.locator("#dl-groups tr[data-group='test.always_fail'] [data-count]")
    expect(group).to_have_text("2")

    page.get_by_label(f"Select dead letter {mine.pk}").check()
    expect(page.locator("#dl-selected-count")).to_have_text("1 selected")
    page.get_by_role("button", name="Retry selected").click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#dl-confirm-count")).to_contain_text("Retry 1 dead letter?")
    dialog.get_by_role("button", name="Retry 1").click()

    expect(page.locator("#toasts .toast")).to_contain_text("Retried 1 dead letter.")
    expect(dialog).to_be_hidden()
    expect(page.locator(".modal-backdrop")).to_have_count(0)
    expect(page.locator(f'tr[data-dead-letter="{mine.pk}"]')).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(group).to_have_text("1")

    mine.refresh_from_db()
    assert (mine.state, mine.resolved_by) == ("retried", "user:ann")
    audit = OperatorAction.objects.filter(task_id=mine.task_id, action="retry_dead_letter")
    assert audit.count() == 1
    assert DeadLetter.objects.get(pk=kept.pk).state == "open"
    assert DeadLetter.objects.get(pk=theirs.pk).state == "open"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dead-letters.png"), full_page=True)


def test_discard_needs_a_note_and_works_at_phone_width(live_server, page, dead_letters):
    mine = dead_letters[0]
    page.set_viewport_size({"width": 390, "height": 844})
    _log_in(page, live_server.url)
    row = page.locator(f'tr[data-dead-letter="{mine.pk}"]')
    row.get_by_label(f"Discard dead letter {mine.pk}", exact=True).click()
    note = row.get_by_label(f"Why discard dead letter {mine.pk}?")
    expect(note).to_be_visible()
    row.get_by_role("button", name="Discard", exact=True).click()  # no note: the form refuses
    assert note.evaluate("el => el.validity.valueMissing")
    expect(row).to_be_visible()
    note.fill("duplicate of an earlier order")
    row.get_by_role("button", name="Discard", exact=True).click()
    expect(page.locator("#toasts .toast")).to_contain_text(f"Discarded dead letter {mine.pk}.")
    expect(row).to_have_count(0)
    mine.refresh_from_db()
    assert (mine.state, mine.note) == ("discarded", "duplicate of an earlier order")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dead-letters-390.png"), full_page=True)
