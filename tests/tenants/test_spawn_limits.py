"""Spawn-rate limits: a token bucket per tenant, enforced atomically in PostgreSQL."""

import threading

import pytest
from django.db import connection, connections

from absurd_core import engine, spawn
from tenants.limits import LimiterUnavailable, RateLimited
from tenants.models import RateLimitPolicy, Tenant
from tests.helpers import wait_for


def _count(tenant):
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_demo where headers->>'tenant' = %s", [tenant])
        return cursor.fetchone()[0]


@pytest.fixture
def limited(db):
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=0.001, spawn_burst=3)
    return tenant


def test_burst_then_refused_and_nothing_spawned(limited):
    for i in range(3):
        spawn("demo.two_steps", {"i": i}, tenant="acme")
    with pytest.raises(RateLimited) as info:
        spawn("demo.two_steps", {"i": 9}, tenant="acme")
    assert info.value.retry_after > 1  # 0.001 tokens/s: a long wait
    assert "over its spawn rate" in str(info.value)
    assert _count("acme") == 3


def test_idempotent_respawn_costs_nothing(limited):
    RateLimitPolicy.objects.filter(tenant=limited).update(spawn_burst=1)
    first = spawn("demo.two_steps", {"i": 1}, tenant="acme", idempotency_key="k")
    for _ in range(5):
        again = spawn("demo.two_steps", {"i": 1}, tenant="acme", idempotency_key="k")
        assert again.task_id == first.task_id and not again.created
    with pytest.raises(RateLimited):
        spawn("demo.two_steps", {"i": 2}, tenant="acme")


def test_platform_tenants_are_exempt(db):
    engine.create_queue("demo")
    Tenant.objects.create(slug="ops", name="Ops", is_platform=True)
    RateLimitPolicy.objects.update_or_create(
        tenant=None, defaults={"spawn_rate": 0.001, "spawn_burst": 1}
    )
    for i in range(5):
        spawn("demo.two_steps", {"i": i}, tenant="ops")
    assert _count("ops") == 5


def test_a_tenant_without_a_policy_gets_the_platform_default(db):
    engine.create_queue("demo")
    Tenant.objects.create(slug="globex", name="Globex")
    RateLimitPolicy.objects.update_or_create(
        tenant=None, defaults={"spawn_rate": 0.001, "spawn_burst": 2}
    )
    spawn("demo.two_steps", {"i": 1}, tenant="globex")
    spawn("demo.two_steps", {"i": 2}, tenant="globex")
    with pytest.raises(RateLimited):
        spawn("demo.two_steps", {"i": 3}, tenant="globex")


def test_the_bucket_refills_at_its_rate(limited):
    RateLimitPolicy.objects.filter(tenant=limited).update(spawn_rate=20, spawn_burst=1)
    spawn("demo.two_steps", {"i": 1}, tenant="acme")
    with pytest.raises(RateLimited) as info:
        spawn("demo.two_steps", {"i": 2}, tenant="acme")
    assert 0 < info.value.retry_after <= 0.06  # one token every 50 ms

    def granted():
        try:
            spawn("demo.two_steps", {"i": 3}, tenant="acme")
        except RateLimited:
            return False
        return True

    wait_for(granted, timeout=5, interval=0.01)
    assert _count("acme") == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_spawns_never_overdraw_the_bucket():
    engine.create_queue("demo")
    tenant = Tenant.objects.create(slug="race", name="Race")
    RateLimitPolicy.objects.create(tenant=tenant, spawn_rate=0.001, spawn_burst=5)
    barrier = threading.Barrier(10)
    outcomes = []

    def attempt(i):
        try:
            barrier.wait()
            spawn("demo.two_steps", {"i": i}, tenant="race")
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("limited")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 5 and outcomes.count("limited") == 5
    assert _count("race") == 5
    engine.drop_queue("demo")


@pytest.mark.parametrize("fail_open", [False, True])
def test_storage_failure_follows_the_fail_open_flag(limited, fail_open, caplog):
    RateLimitPolicy.objects.filter(tenant=limited).update(spawn_fail_open=fail_open)
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("alter table absurd_control_spawn_bucket rename to spawn_bucket_gone")
    if fail_open:
        spawn("demo.two_steps", {"i": 1}, tenant="acme")
        assert _count("acme") == 1
    else:
        with pytest.raises(LimiterUnavailable):
            spawn("demo.two_steps", {"i": 1}, tenant="acme")
        assert _count("acme") == 0
    assert "spawn limiter failed for tenant acme" in caplog.text


def test_a_policy_change_applies_to_the_next_spawn(limited):
    """The bucket row keeps the policy for the fast path; any change reaches it at once."""
    RateLimitPolicy.objects.filter(tenant=limited).update(spawn_rate=1000, spawn_burst=1000)
    spawn("demo.two_steps", {"i": 1}, tenant="acme")  # the bucket now carries this policy
    policy = RateLimitPolicy.objects.get(tenant=limited)
    policy.spawn_rate, policy.spawn_burst = 0.001, 1
    policy.save()
    spawn("demo.two_steps", {"i": 2}, tenant="acme")  # the new burst: one token left
    with pytest.raises(RateLimited):
        spawn("demo.two_steps", {"i": 3}, tenant="acme")
    Tenant.objects.filter(pk=limited.pk).update(is_platform=True)
    spawn("demo.two_steps", {"i": 4}, tenant="acme")  # exempt from now on
    assert _count("acme") == 3


def test_a_default_policy_change_reaches_tenants_without_their_own(db):
    engine.create_queue("demo")
    Tenant.objects.create(slug="globex", name="Globex")
    default, _ = RateLimitPolicy.objects.update_or_create(
        tenant=None, defaults={"spawn_rate": 1000, "spawn_burst": 1000}
    )
    spawn("demo.two_steps", {"i": 1}, tenant="globex")
    default.spawn_rate, default.spawn_burst = 0.001, 1
    default.save()
    spawn("demo.two_steps", {"i": 2}, tenant="globex")  # the new burst: one token left
    with pytest.raises(RateLimited):
        spawn("demo.two_steps", {"i": 3}, tenant="globex")
