"""The decision page: GET shows and never decides; a CSRF-protected POST decides."""

import pytest
from django.test import Client

from approvals.models import ApprovalRequest, ApprovalToken
from tests.approvals.conftest import emitted


@pytest.fixture
def page(make_request):
    request, links = make_request(
        approvers=["a@example.com", "b@example.com"],
        policy="all",
        context={"amount": "120.00 EUR", "cost centre": "R&D"},
    )
    return request, links


def csrf_client(url):
    client = Client(enforce_csrf_checks=True)
    response = client.get(url)
    return client, response.cookies["csrftoken"].value if "csrftoken" in response.cookies else None


def test_get_shows_the_request_and_never_decides(page):
    request, links = page
    url = f"/approvals/{links['a@example.com']}"
    for _ in range(5):
        response = Client().get(url)
        assert response.status_code == 200
    body = response.content.decode()
    assert "Pay the invoice" in body and "Invoice 42" in body
    assert "cost centre" in body and "R&amp;D" in body
    assert "a@example.com" in body and 'value="approve"' in body and 'value="reject"' in body
    request.refresh_from_db()
    assert request.state == "pending"
    assert not ApprovalToken.objects.filter(used_at__isnull=False).exists()
    assert emitted(request) is None


def test_post_decides_with_csrf_and_the_page_shows_other_answers(page):
    _request, links = page
    url = f"/approvals/{links['a@example.com']}"
    client, token = csrf_client(url)
    response = client.post(
        url, {"decision": "approve", "comment": "ok", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200
    assert "Your answer was recorded: Approve" in response.content.decode()
    assert "waits for more answers" in response.content.decode()
    other = Client().get(f"/approvals/{links['b@example.com']}").content.decode()
    assert "a@example.com: Approve" in other and "ok" in other


def test_post_without_csrf_is_refused_and_changes_nothing(page):
    _request, links = page
    response = Client(enforce_csrf_checks=True).post(
        f"/approvals/{links['a@example.com']}", {"decision": "approve"}
    )
    assert response.status_code == 403
    assert not ApprovalToken.objects.filter(used_at__isnull=False).exists()


@pytest.mark.parametrize(
    "data", [{}, {"decision": "maybe"}, {"decision": "approve", "comment": "x" * 2001}]
)
def test_bad_posts_get_400_and_change_nothing(page, data):
    _request, links = page
    response = Client().post(f"/approvals/{links['a@example.com']}", data)
    assert response.status_code == 400
    assert not ApprovalToken.objects.filter(used_at__isnull=False).exists()


def test_used_and_settled_links_say_what_happened(page):
    request, links = page
    Client().post(f"/approvals/{links['a@example.com']}", {"decision": "reject", "comment": "no"})
    used = Client().get(f"/approvals/{links['a@example.com']}")
    assert used.status_code == 410
    assert "already used: a@example.com chose to reject" in used.content.decode()
    other = Client().post(f"/approvals/{links['b@example.com']}", {"decision": "approve"})
    assert other.status_code == 410
    text = other.content.decode()
    assert "already rejected by a@example.com" in text and "Nothing was changed" in text
    assert ApprovalRequest.objects.get(pk=request.pk).state == "rejected"


@pytest.mark.parametrize("raw", ["nope", "A" * 43, "A" * 42 + "%00"])
def test_forged_links_get_404_without_a_stack_trace(page, raw):
    response = Client().get(f"/approvals/{raw}")
    assert response.status_code == 404
    assert "This approval link is not valid." in response.content.decode()
    assert "Traceback" not in response.content.decode()
