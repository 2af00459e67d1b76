"""Isolation proof for the platform counts published to plugins (issue 15, metrics).

``absurd_core.active_task_counts``, ``open_dead_letter_counts``, ``count_events`` and
``approvals.statistics`` are what the metrics plugin reads instead of other apps' tables.
The scoped ones take a tenant scope like every read: with tenant A's scope they show
nothing of tenant B, whatever B's rows are named; only "all tenants" (what the metrics
plugin passes, behind its token) adds them up. ``count_events`` reads the feed as every
lifecycle listener does (platform data, every tenant: docs/plugins.md).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from absurd_core import (
    ALL_TENANTS,
    TenantScope,
    active_task_counts,
    count_events,
    engine,
    open_dead_letter_counts,
)
from approvals.models import ApprovalRequest
from approvals.statistics import decisions_by_tenant, pending_by_tenant
from tenants.models import Tenant

A, B = "acme", "globex"
EVERY = TenantScope(ALL_TENANTS)


def _q(statement: str, *params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def _spawn(queue: str, tenant: str, **options) -> uuid.UUID:
    options = {"headers": {"tenant": tenant}, **options}
    return _q(
        "select task_id from absurd.spawn_task(%s, 'test.iso', '{}'::jsonb, %s::jsonb)",
        queue,
        json.dumps(options),
    )[0][0]


def _fail_terminally(queue: str, tenant: str) -> None:
    task_id = _spawn(queue, tenant, max_attempts=1)
    (run_id,) = [
        r for r, t in _q("select run_id, task_id from absurd.claim_task(%s, 'w', 60, 10)", queue)
        if t == task_id
    ]  # fmt: skip
    reason = json.dumps({"name": "E", "message": "boom"})
    _q("select absurd.fail_run(%s, %s, %s::jsonb, null)", queue, run_id, reason)


def _approval(tenant: str, state: str) -> None:
    now = timezone.now()
    request = ApprovalRequest.objects.create(
        tenant=tenant, queue="demo", task_id=uuid.uuid4(), task_name="t", step_key="s",
        title="Pay", state=state, expires_at=now + timedelta(days=1),
    )  # fmt: skip
    decided = None if state == "pending" else now
    ApprovalRequest.objects.filter(pk=request.pk).update(
        created_at=now - timedelta(seconds=30), decided_at=decided
    )


@pytest.fixture
def world(transactional_db):
    queue = f"q_{uuid.uuid4().hex[:12]}"
    engine.create_queue(queue)
    Tenant.objects.create(slug=A, name="Acme")
    Tenant.objects.create(slug=B, name="Globex")
    # B's rows, including one whose tenant is A's slug with a suffix (a prefix probe).
    tenants = (B, f"{A}x", A)
    for tenant in tenants:
        _fail_terminally(queue, tenant)
    for tenant in tenants:
        _spawn(queue, tenant)  # left pending
    _spawn(queue, "")  # no tenant: platform staff only
    for tenant in (B, f"{A}x"):
        _approval(tenant, "pending")
        _approval(tenant, "approved")
    yield queue
    engine.drop_queue(queue)


def test_a_tenant_scope_counts_only_its_own_rows(world):
    queue, mine = world, TenantScope(A)
    assert {(t, s, n) for q, t, s, n in active_task_counts(mine, [queue])} == {(A, "pending", 1)}
    assert open_dead_letter_counts(mine) == [(queue, A, 1)]
    (own,) = pending_by_tenant(mine)
    assert (own.tenant, own.count, own.oldest_seconds) == (A, 0, None)
    assert decisions_by_tenant(mine, window_seconds=3600, quantiles=(0.5,)) == []


def test_all_tenants_adds_every_tenant_up(world):
    queue = world
    active = {(t, s): n for q, t, s, n in active_task_counts(EVERY, [queue])}
    assert active == {
        (A, "pending"): 1,
        (B, "pending"): 1,
        (f"{A}x", "pending"): 1,
        ("", "pending"): 1,
    }
    assert sorted(t for q, t, n in open_dead_letter_counts(EVERY) if q == queue) == [A, f"{A}x", B]
    pending = {p.tenant: p.count for p in pending_by_tenant(EVERY)}
    assert pending == {A: 0, f"{A}x": 1, B: 1}
    decided = decisions_by_tenant(EVERY, window_seconds=3600, quantiles=(0.5,))
    assert sorted((d.tenant, d.count) for d in decided) == [(f"{A}x", 1), (B, 1)]


def test_the_counted_feed_moves_only_forward(world):
    """count_events from the start sees every tenant's transitions once; from its own
    last position it sees nothing more until something happens."""
    queue = world
    first = count_events((0, 0), ["spawned", "failed"], limit=1_000_000)
    counted = {(t, k): n for q, t, k, n in first.counts if q == queue}
    assert counted[(B, "spawned")] == 2 and counted[(B, "failed")] == 1
    assert counted[("", "spawned")] == 1
    assert first.last is not None and first.rows >= sum(counted.values())
    again = count_events(first.last, ["spawned", "failed"], limit=1_000_000)
    assert (again.counts, again.last, again.rows) == ([], None, 0)
