"""Recurring schedules fired by the tick, on the database clock (absurd.fake_now)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from absurd_core import engine
from absurd_core.actions.schedules import (
    BackfillTooLarge,
    CodeOwned,
    InvalidSchedule,
    ScheduleExists,
    UnknownTask,
    backfill,
    create_schedule,
    delete_schedule,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from absurd_core.declared_schedules import ScheduleSpec
from absurd_core.models import OperatorAction, Schedule
from absurd_core.queries.schedules import upcoming
from absurd_core.registry import registry
from absurd_core.schedule_firing import tick
from absurd_core.schedule_sync import sync
from absurd_core.tenancy import TenantScope
from tenants.models import RateLimitPolicy, Tenant
from tenants.permissions import Principal

pytestmark = pytest.mark.django_db


def fake_now(moment: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute("select set_config('absurd.fake_now', %s, false)", [moment.isoformat()])


@pytest.fixture(autouse=True)
def _clock():
    yield
    with connection.cursor() as cursor:
        cursor.execute("select set_config('absurd.fake_now', '', false)")


@pytest.fixture
def ops(db):
    engine.create_queue("demo")
    Tenant.objects.create(slug="acme", name="Acme")
    return Principal(scope=TenantScope("acme"), role="admin", label="user:ann")


def spawned(schedule_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select headers->>'absurd_control.slot', headers->>'tenant', idempotency_key"
            " from absurd.t_demo where headers->>'absurd_control.schedule' = %s"
            " order by 1",
            [str(schedule_id)],
        )
        return cursor.fetchall()


T0 = datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC)


def test_each_slot_fires_once_with_the_schedule_and_slot_stamped(ops):
    fake_now(T0)
    s = create_schedule(ops, name="every-minute", task="demo.two_steps", cron="* * * * *")
    assert s.next_fire_at == datetime(2030, 1, 7, 10, 1, tzinfo=UTC)
    assert tick().fired == 0  # not due yet
    fake_now(T0 + timedelta(minutes=1))
    assert tick().fired == 1
    assert tick().fired == 0  # the same slot never twice
    fake_now(T0 + timedelta(minutes=2))
    assert tick().fired == 1
    rows = spawned(s.id)
    assert [r[0] for r in rows] == ["2030-01-07T10:01:00Z", "2030-01-07T10:02:00Z"]
    assert {r[1] for r in rows} == {"acme"}
    assert rows[0][2] == f"acme/schedule:{s.id}:2030-01-07T10:01:00Z"
    s.refresh_from_db()
    assert s.fires == 2 and s.last_fire_at == datetime(2030, 1, 7, 10, 2, tzinfo=UTC)
    assert s.next_fire_at == datetime(2030, 1, 7, 10, 3, tzinfo=UTC)


def test_catch_up_skip_fires_only_the_latest_missed_slot(ops):
    fake_now(T0)
    s = create_schedule(ops, name="skip", task="demo.two_steps", every_seconds=60)
    fake_now(T0 + timedelta(minutes=10, seconds=5))  # ten slots missed
    assert tick().fired == 1
    s.refresh_from_db()
    assert s.skipped == 9
    assert len(spawned(s.id)) == 1
    assert s.next_fire_at > T0 + timedelta(minutes=10, seconds=5)


def test_catch_up_all_fires_every_missed_slot_up_to_the_cap(ops):
    fake_now(T0)
    every = create_schedule(
        ops, name="all", task="demo.two_steps", every_seconds=60, catch_up="all"
    )
    capped = create_schedule(
        ops, name="capped", task="demo.two_steps", every_seconds=60, catch_up="all",
        catch_up_cap=4,
    )  # fmt: skip
    fake_now(T0 + timedelta(minutes=10, seconds=5))
    assert tick().fired == 10 + 4
    assert len(spawned(every.id)) == 10
    slots = [r[0] for r in spawned(capped.id)]
    assert len(slots) == 4 and slots[-1] == max(r[0] for r in spawned(every.id))  # the latest 4
    capped.refresh_from_db()
    assert capped.skipped == 6
    assert tick().fired == 0


def test_dst_in_europe_paris(ops):
    # 2030-03-31: 02:00 -> 03:00 in Paris (02:30 does not exist); 2030-10-27: 03:00 -> 02:00.
    fake_now(datetime(2030, 3, 29, 12, tzinfo=UTC))
    s = create_schedule(
        ops, name="paris", task="demo.two_steps", cron="30 2 * * *", timezone="Europe/Paris"
    )
    slots = upcoming(s, 4)
    assert [x.isoformat() for x in slots[:3]] == [
        "2030-03-30T01:30:00+00:00",  # 02:30 CET
        "2030-03-31T01:00:00+00:00",  # 02:30 does not exist: croniter fires at 03:00 CEST
        "2030-04-01T00:30:00+00:00",  # 02:30 CEST
    ]
    fake_now(datetime(2030, 3, 31, 1, 0, 1, tzinfo=UTC))
    assert tick().fired == 1
    # Fall back: 02:30 happens twice; croniter gives both, so two slots, each fired once.
    fake_now(datetime(2030, 10, 25, 12, tzinfo=UTC))
    resume = create_schedule(
        ops, name="paris-autumn", task="demo.two_steps", cron="30 2 * * *",
        timezone="Europe/Paris", catch_up="all",
    )  # fmt: skip
    fake_now(datetime(2030, 10, 28, 3, tzinfo=UTC))
    assert tick().fired >= 3
    autumn = [r[0] for r in spawned(resume.id)]
    assert autumn == [
        "2030-10-26T00:30:00Z",  # 02:30 CEST
        "2030-10-27T00:30:00Z",  # the first 02:30 (CEST)
        "2030-10-27T01:30:00Z",  # the second 02:30 (CET)
        "2030-10-28T01:30:00Z",  # 02:30 CET
    ]


def test_a_refused_spawn_is_retried_shown_and_not_lost(ops):
    RateLimitPolicy.objects.create(
        tenant=Tenant.objects.get(slug="acme"), spawn_rate=0.001, spawn_burst=1
    )
    fake_now(T0)
    s = create_schedule(ops, name="limited", task="demo.two_steps", every_seconds=60)
    from absurd_core import spawn

    spawn("demo.two_steps", {}, tenant="acme")  # uses the only token
    fake_now(T0 + timedelta(seconds=31))
    result = tick()
    assert result.refused == 1 and result.fired == 0
    s.refresh_from_db()
    assert s.refusals == 1 and "spawn rate" in s.last_error
    assert s.next_fire_at == datetime(2030, 1, 7, 10, 1, tzinfo=UTC)  # the slot is kept
    assert s.due_at > T0 + timedelta(seconds=31)  # retried later, not in a busy loop
    assert spawned(s.id) == []
    RateLimitPolicy.objects.filter(tenant__slug="acme").update(spawn_rate=1000, spawn_burst=10)
    fake_now(s.due_at)
    # The refused slot fires although the policy is skip and 10:02 is due too.
    assert tick().fired == 2
    assert [r[0] for r in spawned(s.id)] == ["2030-01-07T10:01:00Z", "2030-01-07T10:02:00Z"]
    s.refresh_from_db()
    assert s.last_error is None and s.next_fire_at == datetime(2030, 1, 7, 10, 3, tzinfo=UTC)


def test_pause_resume_trigger_and_backfill_are_audited(ops):
    fake_now(T0)
    s = create_schedule(ops, name="ops", task="demo.two_steps", cron="0 * * * *")
    pause_schedule(ops, s.id)
    fake_now(T0 + timedelta(hours=3))
    assert tick().fired == 0  # paused
    resume_schedule(ops, s.id)
    s.refresh_from_db()
    assert s.enabled and s.next_fire_at == datetime(2030, 1, 7, 14, tzinfo=UTC)
    _, result = trigger_schedule(ops, s.id)
    assert result.created
    done = backfill(ops, s.id, T0, T0 + timedelta(hours=3))
    assert [slot.hour for slot, _ in done] == [11, 12, 13]
    again = backfill(ops, s.id, T0, T0 + timedelta(hours=3))
    assert not any(r.created for _, r in again)  # the same slots: no new task
    with pytest.raises(BackfillTooLarge):
        backfill(ops, s.id, T0, T0 + timedelta(days=30))
    assert len(spawned(s.id)) == 4
    actions = list(
        OperatorAction.objects.filter(action__startswith="schedule.").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        "schedule.create",
        "schedule.pause",
        "schedule.resume",
        "schedule.trigger",
        "schedule.backfill",
        "schedule.backfill",
    ]


def test_bad_input_changes_nothing(ops):
    with pytest.raises(InvalidSchedule) as bad:
        create_schedule(ops, name="x", task="demo.two_steps", cron="61 * * * *")
    assert bad.value.field == "cron"
    with pytest.raises(InvalidSchedule) as bad:
        create_schedule(ops, name="x", task="demo.two_steps", cron="@daily", timezone="Mars/Base")
    assert bad.value.field == "timezone"
    with pytest.raises(UnknownTask):
        create_schedule(ops, name="x", task="no.such", cron="@daily")
    with pytest.raises(InvalidSchedule) as bad:
        create_schedule(
            ops, name="x", task="demo.two_steps", cron="@daily", headers={"tenant": "globex"}
        )
    assert bad.value.field == "headers"
    create_schedule(ops, name="x", task="demo.two_steps", cron="@daily")
    with pytest.raises(ScheduleExists):
        create_schedule(ops, name="x", task="demo.two_steps", every_seconds=5)
    assert Schedule.objects.count() == 1


def test_declared_schedules_sync_idempotently_and_cannot_be_deleted(ops, monkeypatch):
    spec = registry.get("demo.two_steps")
    monkeypatch.setattr(
        type(spec),
        "schedules",
        property(
            lambda self: (
                (ScheduleSpec("nightly", cron="0 3 * * *", task=self.name, tenant="acme"),)
                if self.name == "demo.two_steps"
                else ()
            )
        ),
    )
    assert sync() == 1
    assert sync() == 0  # equal: nothing written
    s = Schedule.objects.get(name="nightly")
    assert s.code_owned and s.tenant == "acme"
    pause_schedule(ops, s.id)
    assert sync() == 0
    s.refresh_from_db()
    assert not s.enabled  # the operator's pause survives
    with pytest.raises(CodeOwned):
        delete_schedule(ops, s.id)
    assert Schedule.objects.filter(id=s.id).exists()


def test_jitter_delays_the_tick_not_the_slot(ops):
    fake_now(T0)
    s = create_schedule(
        ops, name="jittery", task="demo.two_steps", every_seconds=60, jitter_seconds=30
    )
    assert s.next_fire_at <= s.due_at <= s.next_fire_at + timedelta(seconds=30)
    fake_now(s.due_at)
    assert tick().fired == 1
    assert [r[0] for r in spawned(s.id)] == ["2030-01-07T10:01:00Z"]  # the slot, not due_at


def test_a_plugins_schedules_attribute_is_synced_after_migrate(ops, monkeypatch):
    from django.apps import apps

    from absurd_core.schedule_sync import sync_after_migrate

    demo = apps.get_app_config("demo")
    monkeypatch.setattr(
        demo,
        "schedules",
        ({"name": "demo-hourly", "task": "demo.two_steps", "cron": "@hourly", "tenant": "acme"},),
        raising=False,
    )
    sync_after_migrate(sender=apps.get_app_config("absurd_core"))
    s = Schedule.objects.get(name="demo-hourly")
    assert s.code_owned and s.cron == "0 * * * *" and s.tenant == "acme"
