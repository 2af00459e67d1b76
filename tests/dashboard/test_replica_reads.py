"""Dashboard and API reads from a real streaming replica (tests/replica.py): pages read from
it and say how far behind it is when its replay is paused; cancel, retry and approve still
work, and the user who acted sees the result at once (read-your-writes), while another user
still reads the replica."""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from absurd_core import engine
from absurd_core.read_routing import read_alias, reads_from
from approvals.models import ApprovalRequest
from tenants.api_keys import issue_key
from tenants.models import Tenant
from tests.approvals.conftest import emitted, links_for
from tests.dashboard.test_task_page import failed, sleeping, state, url
from tests.helpers import raw_connection, role_user, wait_for
from tests.replica import replica_alias, replica_fixture, wait_until_replayed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def replicated(replica, settings):
    settings.REPLICA_LAG_BANNER_SECONDS = 1
    try:
        yield replica
    finally:
        replica.execute("select pg_wal_replay_resume()")


@pytest.fixture
def queue():
    name = f"r_{uuid.uuid4().hex[:10]}"
    engine.create_queue(name)
    yield name
    engine.drop_queue(name)


def operator_client(username: str, tenant: Tenant) -> Client:
    client = Client()
    client.force_login(role_user(username, tenant, "operator"))
    return client


def pause_replay(replica) -> None:
    with raw_connection() as primary:
        wait_until_replayed(replica, primary)
    replica.execute("select pg_wal_replay_pause()")
    wait_for(lambda: replica.execute("select pg_get_wal_replay_pause_state()") == [("paused",)])


def runs_page(client: Client) -> str:
    response = client.get(reverse("dashboard:runs"))
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_request_reads_use_the_primary(replicated):
    assert read_alias() == "default"
    with reads_from("replica"):
        assert read_alias() == "replica"
        assert read_alias("other") == "other"


def test_pages_read_the_replica_say_how_far_behind_and_actions_show_at_once(
    replicated, queue, settings
):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    alice = operator_client("alice", acme)
    bob = operator_client("bob", acme)
    to_cancel = sleeping(queue)
    to_retry = failed(queue)
    engine.create_queue("demo")
    from absurd_core import spawn
    from approvals.requests import create_request

    waiting_task = spawn("demo.two_steps", {"i": 1}, tenant="acme")
    from datetime import timedelta

    approval = create_request(
        tenant="acme",
        queue="demo",
        task_id=waiting_task.task_id,
        run_id=None,
        task_name="demo.two_steps",
        step_key="approval-request",
        title="Pay the invoice",
        description="Invoice 42",
        approvers=["a@example.com"],
        policy="any",
        expires_in=timedelta(hours=1),
        context={},
        reject_on_expiry=True,
    )
    links = links_for(approval)
    pause_replay(replicated)

    # Written on the primary after replay stopped: the replica does not have it.
    unseen = sleeping(queue)
    assert replicated.execute(
        "select count(*) from absurd.{} where task_id = %s".replace("{}", f"t_{queue}"),
        [unseen],
    ) == [(0,)]

    html = runs_page(alice)
    assert str(to_cancel) in html and str(unseen) not in html  # read from the replica

    # The replica's last replayed transaction ages while replay is paused; past the
    # threshold (1 s here) every page says so.
    def banner():
        body = runs_page(bob)
        return body if 'id="replica-lag"' in body else None

    body = wait_for(banner, timeout=20)
    assert "Pages read from a replica that is" in body and "behind (its replay is paused)" in body

    # Cancel: done on the primary, and the same user sees it on the next page.
    started = time.monotonic()
    response = alice.post(url("task_cancel", to_cancel), {"confirmed": "1"}, follow=True)
    assert response.redirect_chain == [(url("task", to_cancel), 302)]
    assert "Task cancelled." in response.content.decode()
    assert state(queue, to_cancel) == "cancelled"
    assert 'data-kind="cancelled" data-source="transition"' in response.content.decode()
    # Alice now reads the primary until the replica has replayed her write.
    assert str(unseen) in runs_page(alice)
    # Bob did nothing: he still reads the paused replica, where the task is not cancelled.
    bob_task = bob.get(url("task", to_cancel)).content.decode()
    assert 'data-kind="cancelled" data-source="transition"' not in bob_task
    assert str(unseen) not in runs_page(bob)

    # Retry, the same way.
    response = alice.post(url("task_retry", to_retry), {"confirmed": "1"}, follow=True)
    assert "Retried: attempt 2 is pending." in response.content.decode()
    assert state(queue, to_retry) == "pending"
    assert 'data-kind="retry" data-source="action"' in response.content.decode()

    # Approve through the approver's link (no account): decided once on the primary; the
    # request and its event are there at once, while the replica still has it pending.
    decided = alice.post(f"/approvals/{links['a@example.com']}", {"decision": "approve"})
    assert decided.status_code == 200
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "approved"
    assert emitted(approval)["outcome"] == "approved"
    assert "approved" in alice.get(reverse("dashboard:approvals") + "?state=approved").text
    assert replicated.execute(
        "select state from approvals_approvalrequest where id = %s", [approval.pk]
    ) == [("pending",)]
    assert time.monotonic() - started < 30

    # Replay resumes: once the replica has Alice's writes, she reads it again (the pin goes).
    replicated.execute("select pg_wal_replay_resume()")
    with raw_connection() as primary:
        wait_until_replayed(replicated, primary)
    # Other databases of the same server (parallel test runs) keep writing WAL, so a caught-up
    # replica may still be a second behind: the banner's usual threshold, not the test's 1 s.
    settings.REPLICA_LAG_BANNER_SECONDS = 5
    response = alice.get(reverse("dashboard:runs"))
    assert response.cookies["absurd_read_after"]["max-age"] == 0  # deleted
    assert str(unseen) in response.content.decode()
    assert 'id="replica-lag"' not in response.content.decode()


def test_the_api_reads_the_replica_and_its_writes_pin_the_client(replicated, queue):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    key = issue_key(acme, "ci").key
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    to_cancel = sleeping(queue)
    pause_replay(replicated)
    unseen = sleeping(queue)

    client = Client()
    listed = client.get("/api/v1/tasks", {"queue": queue}, **auth)
    assert listed.status_code == 200
    ids = {item["task_id"] for item in listed.json()["items"]}
    assert str(to_cancel) in ids and str(unseen) not in ids
    assert client.get(f"/api/v1/tasks/{unseen}", **auth).status_code == 404  # not replayed

    cancelled = client.post(f"/api/v1/tasks/{to_cancel}/cancel", **auth)
    assert cancelled.status_code == 200, cancelled.content
    detail = client.get(f"/api/v1/tasks/{to_cancel}", **auth)
    assert detail.json()["state"] == "cancelled"  # the same client, pinned by its cookie
    assert client.get(f"/api/v1/tasks/{unseen}", **auth).status_code == 200
    # A client without the cookie reads the replica.
    other = Client().get(f"/api/v1/tasks/{to_cancel}", **auth)
    assert other.json()["state"] != "cancelled"


def test_an_unreachable_replica_sends_reads_to_the_primary(replica, settings, queue):
    from tests.replica import Replica

    gone = Replica(replica.directory, replica.port + 1 if replica.port < 65535 else 1, "x", "x")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    alice = operator_client("alice", acme)
    task_id = sleeping(queue)
    with replica_alias(gone):
        body = runs_page(alice)
    assert str(task_id) in body
    assert "The read replica cannot be reached: pages read from the primary database." in body
