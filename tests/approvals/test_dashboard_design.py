"""The approvals page in the dashboard's design language: heading, outcome badges, the task
a link, the audit trail in words, and the tenant switcher as the only tenant selector."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from approvals import decisions
from tenants.models import Tenant
from tests.helpers import role_user

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboard:approvals")


def _card(html, pk):
    return html.split(f'data-approval="{pk}"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def three(make_request):
    approved, _ = make_request(title="Buy chairs")
    rejected, _ = make_request(title="Fly first class")
    pending, _ = make_request(title="Pay the invoice", approvers=["a@example.com", "b@x.org"])
    decisions.decide(approved.tokens.get().pk, "approve", comment="fine", via="a@example.com")
    decisions.decide(rejected.tokens.get().pk, "reject", comment="no")
    for request in (approved, rejected, pending):
        request.refresh_from_db()
    return approved, rejected, pending


def _client(tenant="acme", role="viewer", **kwargs):
    client = Client()
    if kwargs.get("superuser"):
        client.force_login(role_user(superuser=True))
    else:
        obj, _ = Tenant.objects.get_or_create(slug=tenant, defaults={"name": tenant})
        client.force_login(role_user(tenant=obj, role=role))
    return client


def test_heading_badges_by_outcome_and_task_links(three):
    approved, rejected, pending = three
    html = _client().get(PAGE).content.decode()
    assert "<title>Approvals · Absurd Control</title>" in html
    assert '<h1 class="h3 mb-0">Approvals</h1>' in html
    assert 'class="badge text-bg-success" data-state="approved"' in _card(html, approved.pk)
    assert 'class="badge text-bg-danger" data-state="rejected"' in _card(html, rejected.pk)
    assert 'class="badge text-bg-primary" data-state="pending"' in _card(html, pending.pk)
    card = _card(html, pending.pk)
    task_url = reverse("dashboard:task", args=[pending.task_id])
    assert f'<a href="{task_url}" data-task-link>' in card
    # Each approver's answer is a badge of its own colour.
    assert 'data-answer="approve"' in _card(html, approved.pk)
    assert "text-bg-success" in _card(html, approved.pk).split('data-answer="approve"')[0][-60:]
    assert 'data-answer="reject"' in _card(html, rejected.pk)
    assert card.count("no answer yet") == 2


def test_audit_trail_is_in_words_not_python_dicts(three):
    approved, _, pending = three
    html = _client().get(PAGE).content.decode()
    card = _card(html, approved.pk)
    trail = card.split("data-audit>", 1)[1]
    assert "{&#x27;" not in trail and "{'" not in trail and "&#x27;:" not in trail
    assert "Asked a@example.com (any one decides)" in trail
    assert "Link sent to a@example.com" in trail
    assert "a@example.com approved: “fine”" in trail
    assert "Settled: approved" in trail
    assert "Asked a@example.com, b@x.org" in _card(html, pending.pk)


def test_no_free_text_tenant_box_and_no_tenant_parameter(three, make_request):
    other, _ = make_request(tenant="globex", title="Globex thing")
    root = _client(superuser=True)
    html = root.get(PAGE).content.decode()
    assert 'name="tenant"' not in html and 'id="tenant"' not in html
    assert "switch with the tenant menu" in html
    # All tenants: every tenant's requests, each labelled with its tenant.
    assert f'data-approval="{other.pk}"' in html and "globex" in _card(html, other.pk)
    # The old ?tenant= box is gone: the parameter selects nothing and hides nothing.
    assert f'data-approval="{other.pk}"' in root.get(PAGE + "?tenant=acme").content.decode()
    # A tenant member sees its own tenant only, whatever the query string says.
    mine = _client().get(PAGE + "?tenant=globex").content.decode()
    assert f'data-approval="{other.pk}"' not in mine and "Globex thing" not in mine
    assert "Tenant</dt>" not in mine  # its own tenant needs no label


def test_state_pills_filter(three):
    approved, rejected, _ = three
    html = _client().get(PAGE + "?state=rejected").content.decode()
    assert f'data-approval="{rejected.pk}"' in html
    assert f'data-approval="{approved.pk}"' not in html
    assert 'data-state-filter="rejected" aria-current="page"' in html
    # An unknown state is ignored (every request), not an error.
    assert _client().get(PAGE + "?state=bogus").status_code == 200


def test_times_are_relative_with_the_absolute_time_on_hover(three):
    _, _, pending = three
    card = _card(_client().get(PAGE).content.decode(), pending.pk)
    expires = card.split("Expires", 1)[1]
    # The deadline: "in 59 min" with the exact time as the tag's title (reltime.js keeps it
    # current); each audit row the same, "just now".
    assert re.search(r"<time [^>]*data-reltime>in \d+ min</time>", expires), expires[:400]
    trail = card.split("data-audit>", 1)[1]
    assert re.search(
        r'<time datetime="[^"]+" title="[^"]+"[^>]*data-reltime>just now</time>', trail
    )
    assert " UTC</time>" not in card
