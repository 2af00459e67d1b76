"""Partitioned queues (upstream's storage mode 'partitioned'): our equipment reaches every
partition, including weeks made later; the worker, schedules, child workflows and the
dashboard's reads work on them; retention drops old empty partitions, and only those.

The lifecycle parity tests (test_lifecycle_parity.py) run on a partitioned queue too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.actions import partitions as partition_actions
from absurd_core.actions import queues as queue_actions
from absurd_core.errors import InvalidArgument, QueueNotFound
from absurd_core.models import DeadLetter, OperatorAction, TaskEvent
from absurd_core.queries.partitions import partition_info
from absurd_core.queries.task_list import TaskFilter, list_tasks
from absurd_core.queries.tasks import find_task
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tests.helpers import WorkerProcess, raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PQ = "partq"


class Admin:
    """A platform admin, as the actions need one."""

    label = "user:root"
    scope = TenantScope(ALL_TENANTS)
    platform = True

    def require_platform_admin(self, what):
        return None

    def can(self, action):
        return True


class Viewer(Admin):
    label = "user:viewer"
    scope = TenantScope("acme")
    platform = False

    def require_platform_admin(self, what):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(f"Only platform admins may {what}.")


@pytest.fixture
def pq():
    engine.drop_queue(PQ)
    queue_actions.create_queue(Admin(), PQ, storage_mode="partitioned")
    yield PQ
    engine.drop_queue(PQ)


def _q(query, *params):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _partitions(prefix):
    return [
        r[0]
        for r in _q(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
            " where i.inhparent = %s::regclass order by 1",
            f"absurd.{prefix}_{PQ}",
        )
    ]


def _triggers(table):
    return {r[0] for r in _q("select tgname from pg_trigger where tgrelid = %s::regclass", table)}


def _indexes(table):
    return {
        r[0]
        for r in _q(
            "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass", table
        )
    }


def test_create_partitioned_queue_is_upstreams_mode_and_audited(pq):
    assert engine.get_queue_policy(PQ).storage_mode == "partitioned"
    assert _q("select relkind from pg_class where oid = %s::regclass", f"absurd.t_{PQ}") == [("p",)]
    row = OperatorAction.objects.get(action="create_queue", queue=PQ)
    assert row.detail == {"storage_mode": "partitioned"}


def test_bad_storage_mode_is_refused_and_creates_nothing():
    with pytest.raises(InvalidArgument, match="storage_mode must be one of"):
        queue_actions.create_queue(Admin(), "nopart", storage_mode="sharded")
    assert not engine.queue_exists("nopart")
    assert not OperatorAction.objects.filter(queue="nopart").exists()


def test_our_triggers_and_indexes_are_on_the_parents_and_reach_every_partition(pq):
    runs_parent, tasks_parent = f"absurd.r_{PQ}", f"absurd.t_{PQ}"
    assert {"absurd_control_wake"} <= _triggers(runs_parent)
    assert {
        "absurd_control_task_insert",
        "absurd_control_task_update",
        "absurd_control_task_delete",
    } <= _triggers(tasks_parent)
    # Our partitioned indexes on the parents: the live-runs index, the tenant and
    # task-name indexes, each with one attached child index per partition.
    ours = [
        name
        for name in _indexes(runs_parent) | _indexes(tasks_parent)
        if name.removeprefix("absurd.").startswith(("ac_", "absurd_control"))
    ]
    assert len(ours) >= 3, ours
    weeks_before = _partitions("t")
    # A longer lookahead: upstream makes more weeks; PostgreSQL clones our equipment.
    engine.set_queue_policy(PQ, {"partition_lookahead": "70 days"})
    _q("select absurd.ensure_partitions(%s)", PQ)
    weeks_after = _partitions("t")
    assert len(weeks_after) > len(weeks_before)
    # Every trigger and index on a parent (ours, the installers' such as the tenant
    # concurrency release, upstream's) is on every partition, old weeks and new.
    for prefix in ("t", "r"):
        parent = f"absurd.{prefix}_{PQ}"
        for table in _partitions(prefix):
            assert _triggers(f"absurd.{table}") >= _triggers(parent), table
        for index in _indexes(parent):
            children = _q("select count(*) from pg_inherits where inhparent = %s::regclass", index)
            assert children[0][0] == len(_partitions(prefix)), index
    assert "absurd_control_task_insert" in _triggers(
        f"absurd.t_{PQ}_{weeks_after[-2].split('_')[-1]}"
    )
    # Nothing of ours mistook a partition for a queue of its own.
    assert engine.install_queue_sql(PQ) == 0


def test_a_worker_runs_tasks_on_a_partitioned_queue_with_the_event_log_and_dead_letters(
    side_effects,
):
    engine.drop_queue("testq")  # as other worker tests leave it, if any did
    queue_actions.create_queue(Admin(), "testq", storage_mode="partitioned")
    try:
        ok = spawn("test.count_steps", {"succeed_on_attempt": 2}, tenant="acme").task_id
        dead = spawn("test.always_fail", {}, tenant="acme").task_id
        with WorkerProcess("--queue", "testq", "--concurrency", "2", "--poll-interval", "0.2") as w:
            wait_for(
                lambda: (
                    find_task(TenantScope("acme"), ok).state == "completed"
                    and find_task(TenantScope("acme"), dead).state == "failed"
                ),
                timeout=60,
            )
            w.stop()
        assert side_effects(ok, "one") == 1 and side_effects(ok, "two") == 1
        kinds = list(
            TaskEvent.objects.filter(queue="testq", task_id=ok)
            .order_by("id")
            .values_list("kind", flat=True)
        )
        assert kinds == ["spawned", "claimed", "retry_scheduled", "claimed", "completed"]
        assert DeadLetter.objects.filter(queue="testq", task_id=dead, state="open").exists()
        # The runs page's read, tenant-scoped, over the partitioned parent.
        only = TaskFilter(queues=["testq"])
        page = list_tasks(TenantScope("acme"), only)
        assert {ok, dead} <= {row.task_id for row in page.items}
        assert list_tasks(TenantScope("other"), only).items == []
    finally:
        engine.drop_queue("testq")


def _fake_now(conn, days_ago):
    conn.execute(
        "select set_config('absurd.fake_now', (now() - make_interval(days => %s))::text, false)",
        (days_ago,),
    )


def test_retention_drops_old_empty_partitions_and_keeps_the_rest(pq):
    # Weeks back to 60 days ago, and an old task in one of them.
    engine.set_queue_policy(PQ, {"partition_lookback": "60 days"})
    _q("select absurd.ensure_partitions(%s)", PQ)
    with raw_connection() as conn:
        _fake_now(conn, 40)
        old = conn.execute(
            "select task_id from absurd.spawn_task(%s, 'x', '{}'::jsonb, '{}'::jsonb)", (PQ,)
        ).fetchone()[0]
    recent = spawn("ext.recent", {}, tenant="acme", queue=PQ).task_id
    before = partition_info(PQ)
    assert before.partitioned and len(before.weeks) >= 10
    (home,) = _q("select tableoid::regclass::text from absurd.t_partq where task_id = %s", old)[0]
    old_week = next(w for w in before.weeks if home in [f"absurd.{t}" for t in w.tables])
    assert not old_week.is_default  # a week of its own, 40 days back

    # detach_mode 'none' (the default): nothing goes, and the operator is told so.
    assert partition_actions.drop_old_partitions(Admin(), PQ) == []
    assert len(partition_info(PQ).weeks) == len(before.weeks)

    partition_actions.update_detach_policy(
        Admin(), PQ, detach_mode="empty", detach_min_age=timedelta(days=14)
    )
    dropped = partition_actions.drop_old_partitions(Admin(), PQ)
    after = partition_info(PQ)
    remaining = {t for w in after.weeks for t in w.tables}
    assert dropped and not (set(dropped) & remaining)
    assert set(old_week.tables) <= remaining  # it holds a task: kept
    assert all(w.range_to is None or w.range_to > w.range_from for w in after.weeks)
    # Every week younger than detach_min_age, and the default partition, stay.
    cutoff = timezone.now() - timedelta(days=14)
    young = [w for w in before.weeks if w.is_default or w.range_to >= cutoff]
    old_empty = [
        w for w in before.weeks if not w.is_default and w.range_to < cutoff and w != old_week
    ]
    assert old_empty and {t for w in old_empty for t in w.tables} == set(dropped)
    assert all(set(w.tables) <= remaining for w in young)
    assert find_task(TenantScope("acme"), recent).queue == PQ
    audit = OperatorAction.objects.filter(action="drop_old_partitions", queue=PQ).order_by("id")
    assert [a.detail["dropped"] for a in audit] == [[], dropped]


def test_retention_settings_and_actions_need_a_platform_admin_and_a_partitioned_queue(pq):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        partition_actions.drop_old_partitions(Viewer(), PQ)
    with pytest.raises(PermissionDenied):
        partition_actions.update_detach_policy(
            Viewer(), PQ, detach_mode="empty", detach_min_age=timedelta(days=1)
        )
    with pytest.raises(InvalidArgument):
        partition_actions.update_detach_policy(
            Admin(), PQ, detach_mode="sometimes", detach_min_age=timedelta(days=1)
        )
    with pytest.raises(InvalidArgument):
        partition_actions.update_detach_policy(
            Admin(), PQ, detach_mode="empty", detach_min_age=timedelta(0)
        )
    assert engine.get_queue_policy(PQ).detach_mode == "none"
    engine.create_queue("flatq")
    try:
        with pytest.raises(partition_actions.NotPartitioned):
            partition_actions.drop_old_partitions(Admin(), "flatq")
        assert partition_info("flatq").weeks == []
    finally:
        engine.drop_queue("flatq")
    with pytest.raises(QueueNotFound):
        partition_actions.drop_old_partitions(Admin(), f"nope{uuid.uuid4().hex[:6]}")
    assert not OperatorAction.objects.filter(
        action__in=["drop_old_partitions", "update_partition_policy"]
    ).exists()


def test_partition_reads_tolerate_hostile_names():
    for name in ["x'; drop table absurd.queues; --", "t_partq_607", "%"]:
        assert _q("select count(*) from absurd_control.queue_partitions(%s)", name) == [(0,)]
        assert _q("select count(*) from absurd_control.drop_old_partitions(%s)", name) == [(0,)]
    assert sql  # psycopg.sql is what our reads compose names with


def test_schedules_fire_once_per_slot_onto_a_partitioned_queue():
    from datetime import UTC, datetime

    from absurd_core.actions.schedules import create_schedule
    from absurd_core.schedule_firing import tick
    from tenants.models import Tenant
    from tenants.permissions import Principal

    engine.drop_queue("demo")
    queue_actions.create_queue(Admin(), "demo", storage_mode="partitioned")
    Tenant.objects.create(slug="acme", name="Acme")
    ops = Principal(scope=TenantScope("acme"), role="admin", label="user:ann")
    t0 = datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC)
    try:
        _q("select set_config('absurd.fake_now', %s, false)", t0.isoformat())
        s = create_schedule(ops, name="every-minute", task="demo.two_steps", cron="* * * * *")
        _q(
            "select set_config('absurd.fake_now', %s, false)",
            (t0 + timedelta(minutes=1)).isoformat(),
        )
        assert tick().fired == 1
        assert tick().fired == 0  # the slot's idempotency key holds on upstream's i_ table
        rows = _q(
            "select headers->>'tenant', tableoid::regclass::text from absurd.t_demo"
            " where headers->>'absurd_control.schedule' = %s",
            str(s.id),
        )
        assert [r[0] for r in rows] == ["acme"] and rows[0][1].startswith("absurd.t_demo_")
        assert TaskEvent.objects.filter(queue="demo", kind="spawned").count() == 1
    finally:
        _q("select set_config('absurd.fake_now', '', false)")
        engine.drop_queue("demo")


def test_a_queue_may_not_take_another_queues_partition_names(pq):
    week = partition_info(PQ).weeks[0].tag
    for name in (f"{PQ}_{week}", f"{PQ}_d"):
        with pytest.raises(queue_actions.QueueExists, match="partitions"):
            queue_actions.create_queue(Admin(), name)
        assert not engine.queue_exists(name)
    # The other way round: a partitioned queue whose weeks would take a queue's tables.
    queue_actions.create_queue(Admin(), "clash_d")
    try:
        with pytest.raises(queue_actions.QueueExists):
            queue_actions.create_queue(Admin(), "clash", storage_mode="partitioned")
        assert not engine.queue_exists("clash")
        queue_actions.create_queue(Admin(), "clash")  # unpartitioned: no partition names
    finally:
        engine.drop_queue("clash_d")
        engine.drop_queue("clash")
