"""Deciding requests: policies, exactly once, links that cannot decide any more."""

import pytest
from django.core import mail

from absurd_core import engine
from approvals import policy
from approvals.decisions import DecisionRefused, cancel, decide, find_token
from approvals.models import ApprovalRequest, ApprovalToken
from tests.approvals.conftest import emitted
from tests.helpers import raw_connection


def answer(raw, decision, comment=""):
    return decide(find_token(raw).pk, decision, comment=comment, ip="127.0.0.1", user_agent="t")


@pytest.mark.parametrize(
    ("kind", "quorum", "answers", "expected"),
    [
        ("any", 1, ["approve"], "approved"),
        ("any", 1, ["reject"], "rejected"),
        ("all", 1, ["approve", "approve"], None),
        ("all", 1, ["approve", "approve", "approve"], "approved"),
        ("all", 1, ["approve", "reject"], "rejected"),
        ("quorum", 2, ["approve"], None),
        ("quorum", 2, ["approve", "reject"], None),
        ("quorum", 2, ["approve", "reject", "approve"], "approved"),
        ("quorum", 2, ["reject", "reject"], "rejected"),
    ],
)
def test_policy_outcomes(kind, quorum, answers, expected):
    got = policy.outcome(kind, quorum, 3, answers.count("approve"), answers.count("reject"))
    assert got == expected


@pytest.mark.parametrize("bad", ["most", {"quorum": 0}, {"quorum": 4}, {"quorum": "2"}, {}])
def test_bad_policies_are_refused(bad):
    with pytest.raises(ValueError):
        policy.parse(bad, 3)


def test_any_approves_on_the_first_answer_and_wakes_the_workflow_once(make_request):
    request, links = make_request(approvers=["a@example.com", "b@example.com"])
    assert set(links) == {"a@example.com", "b@example.com"}
    assert emitted(request) is None
    result = answer(links["a@example.com"], "approve", "fine by me")
    assert result.settled
    request.refresh_from_db()
    assert request.state == "approved" and request.decided_by == "a@example.com"
    payload = emitted(request)
    assert payload["outcome"] == "approved" and payload["decided_by"] == ["a@example.com"]
    assert payload["answers"][0]["comment"] == "fine by me"
    # B's link died with the decision.
    with pytest.raises(DecisionRefused) as info:
        answer(links["b@example.com"], "reject")
    assert info.value.reason == "approved"
    token = ApprovalToken.objects.get(approver="a@example.com")
    assert token.ip == "127.0.0.1" and token.user_agent == "t"


def test_all_waits_for_everyone_and_one_reject_rejects(make_request):
    request, links = make_request(approvers=["a@example.com", "b@example.com"], policy="all")
    assert not answer(links["a@example.com"], "approve").settled
    assert emitted(request) is None
    assert answer(links["b@example.com"], "reject").settled
    request.refresh_from_db()
    assert request.state == "rejected" and emitted(request)["outcome"] == "rejected"


def test_quorum(make_request):
    approvers = ["a@example.com", "b@example.com", "c@example.com"]
    request, links = make_request(approvers=approvers, policy={"quorum": 2})
    answer(links["a@example.com"], "approve")
    answer(links["b@example.com"], "reject")
    assert ApprovalRequest.objects.get(pk=request.pk).state == "pending"
    answer(links["c@example.com"], "approve")
    payload = emitted(request)
    assert payload["outcome"] == "approved"
    assert payload["decided_by"] == ["a@example.com", "c@example.com"]


def test_a_used_link_cannot_decide_again(make_request):
    _request, links = make_request(approvers=["a@example.com", "b@example.com"], policy="all")
    raw = links["a@example.com"]
    answer(raw, "approve")
    with pytest.raises(DecisionRefused) as info:
        answer(raw, "reject")
    assert info.value.reason == "used" and "already used" in str(info.value)
    assert ApprovalToken.objects.get(approver="a@example.com").decision == "approve"


def test_cancelled_requests_refuse_links_and_tell_the_workflow(make_request):
    request, links = make_request()
    assert cancel(request.pk, "user:olga")
    assert not cancel(request.pk, "user:olga")  # already settled: nothing happens twice
    with pytest.raises(DecisionRefused) as info:
        answer(links["a@example.com"], "approve")
    assert info.value.reason == "cancelled" and "user:olga" in str(info.value)
    assert emitted(request)["outcome"] == "cancelled"


@pytest.mark.parametrize("raw", ["", "x" * 42, "x" * 43, "../../etc/passwd", "A" * 500])
def test_forged_and_truncated_tokens(make_request, raw):
    make_request()
    with pytest.raises(DecisionRefused) as info:
        find_token(raw)
    assert info.value.reason == "invalid"


def test_an_expired_link_cannot_decide(make_request):
    request, links = make_request()
    ApprovalToken.objects.filter(request=request).update(expires_at="2000-01-01T00:00:00Z")
    with pytest.raises(DecisionRefused) as info:
        answer(links["a@example.com"], "approve")
    assert info.value.reason == "expired"
    assert ApprovalRequest.objects.get(pk=request.pk).state == "pending"


def test_a_resent_link_replaces_the_previous_one(make_request):
    from tests.approvals.conftest import links_for

    request, first = make_request()
    second = links_for(request)
    assert first["a@example.com"] != second["a@example.com"]
    with pytest.raises(DecisionRefused):
        find_token(first["a@example.com"])
    assert answer(second["a@example.com"], "approve").settled


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["raw_cancel", "complete"])
def test_links_die_with_the_workflow_by_any_path(make_request, how):
    request, links = make_request()
    with raw_connection() as conn:
        if how == "raw_cancel":
            conn.execute("select absurd.cancel_task('demo', %s)", (request.task_id,))
        else:
            (run_id,) = conn.execute(
                "select run_id from absurd.claim_task('demo', 'w', 60, 10) where task_id = %s",
                (request.task_id,),
            ).fetchone()
            conn.execute("select absurd.complete_run('demo', %s, '{}'::jsonb)", (run_id,))
    request.refresh_from_db()
    assert request.state == "cancelled"
    state = "cancelled" if how == "raw_cancel" else "completed"
    assert request.decided_by == f"the workflow was {state}"
    token = ApprovalToken.objects.get(request=request)
    assert token.revoked_at is not None
    with pytest.raises(DecisionRefused) as info:
        answer(links["a@example.com"], "approve")
    assert info.value.reason == "cancelled"
    assert f"already cancelled because the workflow was {state}" in str(info.value)
    assert list(request.events.values_list("kind", flat=True))[-1] == "cancelled"
    engine.drop_queue("demo")


def test_the_email_has_text_and_html_with_a_link_built_from_base_url(make_request, settings):
    settings.BASE_URL = "https://approvals.example.org"
    request, _ = make_request()
    from tests.approvals.conftest import links_for

    links_for(request)
    (message,) = mail.outbox
    assert message.subject == "Approval needed: Pay the invoice"
    assert "https://approvals.example.org/approvals/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "https://approvals.example.org/approvals/" in html
    assert "120.00 EUR" in message.body


def test_a_failing_notifier_records_the_error_and_raises(make_request, settings):
    settings.EMAIL_BACKEND = "tests.approvals.test_decisions.BrokenBackend"
    with pytest.raises(ConnectionRefusedError):
        make_request()
    token = ApprovalToken.objects.get()
    assert token.notify_error == "ConnectionRefusedError: mail server down"
    assert token.notified_at is None and token.notify_attempts == 1
    assert "notify_failed" in token.request.events.values_list("kind", flat=True)


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_settle_once(make_request):
    import threading

    from django.db import connection

    request, links = make_request(approvers=["a@example.com", "b@example.com"])
    barrier = threading.Barrier(2)
    outcomes = []

    def race(raw):
        barrier.wait()
        try:
            outcomes.append(answer(raw, "approve").settled)
        except DecisionRefused as refusal:
            outcomes.append(refusal.reason)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(raw,)) for raw in links.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [True, "approved"]
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from absurd.e_demo where event_name = %s", [request.event_name]
        )
        assert cursor.fetchone()[0] == 1
    engine.drop_queue("demo")
