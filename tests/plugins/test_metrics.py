"""The metrics plugin: /metrics against real PostgreSQL, parsed as Prometheus parses it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from absurd_core import engine
from absurd_core.models import Worker
from absurd_core.queries import queue_overview
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from approvals.models import ApprovalRequest
from tenants.models import Tenant


@pytest.fixture(autouse=True)
def local_scrapes(settings):
    """Scrapes from the test client (loopback) without a token: development mode."""
    settings.DEBUG = True
    settings.METRICS_TOKEN = ""


def scrape(client: Client | None = None, **extra) -> dict:
    """GET /metrics; {(sample name, frozenset(labels)): value}."""
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def q(sql: str, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


class Engine:
    """Drives one queue through absurd.* as absurdctl or psql would."""

    def __init__(self, queue: str):
        self.queue = queue

    def spawn(self, tenant: str, **options) -> uuid.UUID:
        options = {"headers": {"tenant": tenant}, **options}
        return q(
            "select task_id from absurd.spawn_task(%s, 'test.metrics', '{}'::jsonb, %s::jsonb)",
            self.queue,
            json.dumps(options),
        )[0][0]

    def claim(self, expected: uuid.UUID) -> uuid.UUID:
        rows = q("select run_id, task_id from absurd.claim_task(%s, 'metrics', 60, 1)", self.queue)
        assert rows and rows[0][1] == expected
        return rows[0][0]

    def complete(self, run_id) -> None:
        q("select absurd.complete_run(%s, %s, '{}'::jsonb)", self.queue, run_id)

    def fail(self, run_id) -> None:
        reason = json.dumps({"name": "ValueError", "message": "boom"})
        q("select absurd.fail_run(%s, %s, %s::jsonb, null)", self.queue, run_id, reason)

    def sleep(self, run_id) -> None:
        q(
            "select absurd.schedule_run(%s, %s, absurd.current_time() + interval '1 hour')",
            self.queue,
            run_id,
        )

    def cancel(self, task_id) -> None:
        q("select absurd.cancel_task(%s, %s)", self.queue, task_id)


@pytest.fixture
def queue(transactional_db):
    # Committed transactions: the counters fold only events of finished transactions.
    name = f"q_{uuid.uuid4().hex[:12]}"
    engine.create_queue(name)
    yield name
    engine.drop_queue(name)


@pytest.fixture
def world(queue):
    """Tasks in known states in ``queue``: acme has one of each, beta one pending."""
    Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="beta", name="Beta")
    e = Engine(queue)
    done = e.spawn("acme")
    e.complete(e.claim(done))
    dead = e.spawn("acme", max_attempts=1)
    e.fail(e.claim(dead))  # terminal: a dead letter
    sleeper = e.spawn("acme")
    e.sleep(e.claim(sleeper))
    runner = e.spawn("acme")
    running_run = e.claim(runner)
    retried = e.spawn("acme", max_attempts=3)
    e.fail(e.claim(retried))  # attempts left: retry scheduled, pending again
    e.spawn("acme")  # pending
    e.spawn("beta")  # pending
    e.cancel(e.spawn("acme"))
    return {"engine": e, "running_run": running_run, "dead": dead}


def test_queue_depth_counters_and_dead_letters(world, queue):
    s = scrape()
    acme = {"queue": queue, "tenant": "acme"}
    beta = {"queue": queue, "tenant": "beta"}
    depth = "absurd_control_queue_tasks"
    assert value(s, depth, **acme, state="pending") == 2
    assert value(s, depth, **acme, state="running") == 1
    assert value(s, depth, **acme, state="sleeping") == 1
    assert value(s, depth, **beta, state="pending") == 1
    assert value(s, depth, **beta, state="running") == 0
    assert value(s, depth, **beta, state="sleeping") == 0
    # The same numbers the dashboard's full count shows.
    (summary,) = [x for x in queue_overview(TenantScope(ALL_TENANTS)) if x.name == queue]
    assert summary.count("pending") == 3 and summary.count("running") == 1
    assert summary.count("sleeping") == 1

    assert value(s, "absurd_control_tasks_spawned_total", **acme) == 7
    assert value(s, "absurd_control_tasks_completed_total", **acme) == 1
    assert value(s, "absurd_control_tasks_failed_total", **acme) == 1
    assert value(s, "absurd_control_tasks_cancelled_total", **acme) == 1
    assert value(s, "absurd_control_task_retries_total", **acme) == 1
    assert value(s, "absurd_control_tasks_spawned_total", **beta) == 1
    assert value(s, "absurd_control_tasks_completed_total", **beta) == 0

    assert value(s, "absurd_control_dead_letters_open", **acme) == 1
    assert value(s, "absurd_control_dead_letters_open", **beta) == 0


def test_counters_count_each_event_once_across_scrapes(world, queue):
    acme = {"queue": queue, "tenant": "acme"}
    first = scrape()
    again = scrape()
    assert value(again, "absurd_control_tasks_completed_total", **acme) == 1
    assert value(again, "absurd_control_tasks_spawned_total", **acme) == 7
    assert value(again, "absurd_control_metrics_events_folded") == 0
    assert value(first, "absurd_control_metrics_events_folded") > 0

    world["engine"].complete(world["running_run"])
    after = scrape()
    assert value(after, "absurd_control_tasks_completed_total", **acme) == 2
    assert value(after, "absurd_control_tasks_spawned_total", **acme) == 7
    assert value(after, "absurd_control_queue_tasks", **acme, state="running") == 0


def test_a_tenant_header_longer_than_an_index_entry_is_counted(queue):
    """Issue 14, defect 9: absurd.spawn_task takes a 3,200-character tenant; the dead letter
    it opens and the totals it is folded into must take it too. Random characters: a
    repeated one would compress into an index entry."""
    import random
    import string

    tenant = "".join(random.choices(string.ascii_letters + string.digits, k=3200))
    e = Engine(queue)
    dead = e.spawn(tenant, max_attempts=1)
    e.fail(e.claim(dead))
    s = scrape()
    labels = {"queue": queue, "tenant": tenant}
    assert value(s, "absurd_control_tasks_spawned_total", **labels) == 1
    assert value(s, "absurd_control_tasks_failed_total", **labels) == 1
    assert value(s, "absurd_control_dead_letters_open", **labels) == 1
    assert value(scrape(), "absurd_control_tasks_spawned_total", **labels) == 1


def test_workers(transactional_db):
    Worker.objects.all().delete()
    now = timezone.now()
    common = {"host": "h", "pid": 1, "queues": ["demo"], "concurrency": 4, "started_at": now}
    Worker.objects.create(worker_id="alive", last_seen=now, in_flight=3, **common)
    Worker.objects.create(worker_id="alive2", last_seen=now, in_flight=1, **common)
    Worker.objects.create(
        worker_id="silent", last_seen=now - timedelta(minutes=5), in_flight=2, **common
    )
    Worker.objects.create(worker_id="gone", last_seen=now, stopped_at=now, in_flight=0, **common)
    # Dead for longer than the retention period (a day): no longer counted, as not listed.
    Worker.objects.create(worker_id="ancient", last_seen=now - timedelta(days=2), **common)
    s = scrape()
    assert value(s, "absurd_control_workers", status="alive") == 2
    assert value(s, "absurd_control_workers", status="dead") == 1
    assert value(s, "absurd_control_worker_runs_in_flight") == 4


def _approval(tenant: str, state: str, created_ago: float, decided_ago: float | None):
    now = timezone.now()
    request = ApprovalRequest.objects.create(
        tenant=tenant,
        queue="demo",
        task_id=uuid.uuid4(),
        task_name="demo.expense_approval",
        step_key="approval",
        title="Pay",
        state=state,
        expires_at=now + timedelta(days=1),
    )
    # created_at is auto_now_add: set both times afterwards, from one clock reading.
    ApprovalRequest.objects.filter(pk=request.pk).update(
        created_at=now - timedelta(seconds=created_ago),
        decided_at=None if decided_ago is None else now - timedelta(seconds=decided_ago),
    )


def test_approvals(db):
    Tenant.objects.create(slug="acme", name="Acme")
    Tenant.objects.create(slug="beta", name="Beta")
    _approval("acme", "approved", created_ago=100, decided_ago=10)  # 90 s
    _approval("acme", "rejected", created_ago=40, decided_ago=10)  # 30 s
    _approval("acme", "approved", created_ago=9000, decided_ago=8000)  # outside the hour
    _approval("acme", "expired", created_ago=100, decided_ago=5)  # not a decision
    _approval("acme", "pending", created_ago=300, decided_ago=None)
    _approval("acme", "pending", created_ago=20, decided_ago=None)
    s = scrape()
    assert value(s, "absurd_control_approvals_pending", tenant="acme") == 2
    assert value(s, "absurd_control_approvals_pending", tenant="beta") == 0
    oldest = value(s, "absurd_control_approval_oldest_pending_seconds", tenant="acme")
    assert oldest == pytest.approx(300, abs=30)  # the database clock against this one
    assert (
        "absurd_control_approval_oldest_pending_seconds",
        frozenset({("tenant", "beta")}),
    ) not in s
    assert value(s, "absurd_control_approval_decisions_recent", tenant="acme") == 2
    assert value(s, "absurd_control_approval_decisions_recent", tenant="beta") == 0
    assert value(s, "absurd_control_approval_decision_seconds_mean", tenant="acme") == 60
    latency = "absurd_control_approval_decision_seconds"
    assert value(s, latency, tenant="acme", quantile="0.5") == 60
    assert value(s, latency, tenant="acme", quantile="0.9") == pytest.approx(84, abs=1e-9)
    assert value(s, latency, tenant="acme", quantile="0.99") == pytest.approx(89.4, abs=1e-9)


# -- access ------------------------------------------------------------------------------------


def test_token_required_when_set(db, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    client = Client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert b"Authorization: Bearer <METRICS_TOKEN>" in missing.content
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong.content == b"The metrics token is wrong.\n"
    basic = client.get("/metrics", HTTP_AUTHORIZATION="Basic czNjcmV0LXRva2Vu")
    assert basic.status_code == 401
    # The right token is enough from any address; loopback alone is not.
    remote = Client(REMOTE_ADDR="203.0.113.9")
    scrape(remote, HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert remote.get("/metrics").status_code == 401


def test_without_token_nobody_unless_debug(db, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    refused = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert refused.status_code == 403
    assert b"need METRICS_TOKEN" in refused.content


def test_without_token_only_loopback_in_debug(db, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    refused = Client(REMOTE_ADDR="10.0.0.5").get("/metrics")
    assert refused.status_code == 403
    assert b"only to loopback clients" in refused.content
    proxied = Client().get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert proxied.status_code == 403
    assert b"through a proxy" in proxied.content
    scrape(Client(REMOTE_ADDR="127.0.0.1"))
    scrape(Client(REMOTE_ADDR="::1"))


def test_only_get(db):
    assert Client().post("/metrics").status_code == 405


def test_the_owning_apps_create_the_scrape_indexes_the_plugin_made(db):
    """The indexes on other apps' tables moved to those apps' migrations (issue 15): same
    names, same definitions, ``if not exists``, so an existing database is unchanged and
    one without the plugin gets them from the owners."""
    from importlib import import_module

    owners = {
        "metrics_dead_letter_open": "absurd_core.migrations.0014_metrics_indexes",
        "metrics_approval_pending": "approvals.migrations.0004_metrics_indexes",
        "metrics_approval_decided": "approvals.migrations.0004_metrics_indexes",
    }

    def definitions():
        return dict(
            q("select indexname, indexdef from pg_indexes where indexname = any(%s)", list(owners))
        )

    made_by_the_plugin = definitions()
    assert set(made_by_the_plugin) == set(owners)
    again = definitions()
    for module in sorted(set(owners.values())):  # on a database that has them: no change
        for operation in import_module(module).Migration.operations:
            q(operation.sql)
    assert definitions() == again
    q("drop index " + ", ".join(owners))
    for module in sorted(set(owners.values())):  # without them: the owners make the same
        for operation in import_module(module).Migration.operations:
            q(operation.sql)
    assert definitions() == made_by_the_plugin
