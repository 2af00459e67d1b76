"""The ``absurd`` fixture of our pytest plugin (absurd_control_pytest), in our own suite.

A throwaway project using it from outside lives in tests/core/test_pytest_plugin_project.py.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from absurd_control_pytest import NothingToRun, TaskFailed
from absurd_core.actions.schedules import create_schedule
from absurd_core.declared_schedules import ScheduleSpec
from absurd_core.models import Schedule
from absurd_core.registry import registry
from absurd_core.tenancy import TenantScope
from tenants.models import Tenant
from tenants.permissions import Principal
from tests.fixtures.apps.testapp.tasks import kit_async_workflow, kit_workflow

Q = ["kitq"]


def test_drain_runs_until_a_sleep_and_advance_wakes_it_without_waiting(absurd):
    started = absurd.spawn(kit_workflow, {"n": 1}, tenant="acme")
    ran = absurd.drain(queues=Q)
    assert [(r.task_name, r.status) for r in ran] == [("kit.workflow", "suspended")]
    assert absurd.result(started).state == "sleeping"
    assert absurd.drain(queues=Q) == []  # an hour is not up
    absurd.advance(3599)
    assert absurd.drain(queues=Q) == []
    absurd.advance(1)
    assert [r.status for r in absurd.drain(queues=Q)] == ["suspended"]  # now it waits for go
    absurd.emit("go", {"ok": 1}, tenant="acme")
    assert [r.status for r in absurd.drain(queues=Q)] == ["completed"]
    result = absurd.result(started)
    assert (result.state, result.result) == (
        "completed",
        {"first": 2, "event": {"ok": 1}, "attempt": 1},
    )
    assert absurd.history(started)[0] == "spawned" and absurd.history(started)[-1] == "completed"


def test_another_tenants_event_does_not_wake_the_task(absurd):
    started = absurd.spawn(kit_workflow, {}, tenant="acme")
    absurd.drain(queues=Q)
    absurd.advance(3600)
    absurd.drain(queues=Q)
    absurd.emit("go", {"forged": True}, tenant="globex")
    assert absurd.drain(queues=Q) == []
    assert absurd.result(started).state == "sleeping"


def test_an_async_task_runs_in_process_too(absurd):
    started = absurd.spawn(kit_async_workflow, {"n": 41}, tenant="acme")
    assert [r.status for r in absurd.drain(queues=Q)] == ["suspended"]  # a day's sleep
    absurd.advance(timedelta(days=1))
    absurd.emit("go", "yes", tenant="acme")
    # The day is up and the event is there: one run to the end.
    assert [r.status for r in absurd.drain(queues=Q)] == ["completed"]
    assert absurd.result(started).result == {"first": 42, "event": "yes"}


def test_a_retry_waits_for_its_back_off_and_advance_brings_it(absurd):
    started = absurd.spawn(kit_workflow, {"fail_once": True}, tenant="acme")
    absurd.emit("go", 1, queue="kitq", tenant="acme")
    absurd.drain(queues=Q)
    absurd.advance(3600)
    assert [r.status for r in absurd.drain(queues=Q)] == ["failed"]  # attempt 1; retry in 30 s
    absurd.advance(30)
    ran = absurd.drain(queues=Q)
    assert [(r.attempt, r.status) for r in ran] == [(2, "completed")]
    assert absurd.result(started).result["attempt"] == 2


def test_a_task_that_fails_for_good_raises_with_its_traceback(absurd):
    started = absurd.spawn("kit.fails", {}, tenant="acme")
    with pytest.raises(TaskFailed, match="ZeroDivisionError") as raised:
        absurd.drain(queues=Q)
    assert "kit_fails" in str(raised.value)  # the task's own frame, from its traceback
    assert absurd.result(started).state == "failed"
    assert [d.task_id for d in absurd.dead_letters() if d.task_id == started.task_id]
    absurd.spawn("kit.fails", {}, tenant="acme")
    assert [r.status for r in absurd.drain(queues=Q, raise_failures=False)] == ["failed"]


def test_run_runs_one_task_and_leaves_the_others_due(absurd):
    one = absurd.spawn("kit.fails", {"zero": 1}, tenant="acme")
    two = absurd.spawn("kit.fails", {"zero": 2}, tenant="acme")
    assert absurd.run(two).status == "completed"
    assert absurd.result(two).result == 0.5
    assert absurd.result(one).state != "completed"  # handed back, due at once
    assert [(r.task_id, r.status) for r in absurd.drain(queues=Q)] == [(one.task_id, "completed")]
    with pytest.raises(NothingToRun):
        absurd.run(two)


def test_freeze_moves_the_engine_clock_and_pythons_together(absurd):
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    absurd.freeze(at)
    assert absurd.now == at
    assert timezone.now() == at
    absurd.advance(timedelta(days=3))
    assert absurd.now == timezone.now() == at + timedelta(days=3)
    with pytest.raises(ValueError):
        absurd.freeze(datetime(2030, 1, 1))  # naive
    with pytest.raises(ValueError):
        absurd.advance(-1)
    absurd.unfreeze()
    with connection.cursor() as cursor:
        cursor.execute("select current_setting('absurd.fake_now', true)")
        assert cursor.fetchone()[0] == ""
    assert timezone.now().year < 2030


def test_unfreeze_leaves_the_tests_own_patches_alone(absurd, monkeypatch):
    import absurd_sdk

    real_clock, real_now = absurd_sdk._get_current_time, timezone.now
    monkeypatch.setattr(absurd_sdk, "__doc__", "patched by the test")
    absurd.advance(60)
    assert absurd_sdk._get_current_time is not real_clock and timezone.now is not real_now
    absurd.unfreeze()
    assert absurd_sdk.__doc__ == "patched by the test"
    assert absurd_sdk._get_current_time is real_clock and timezone.now is real_now


def test_tick_schedules_fires_due_schedules_on_the_engine_clock_and_drain_runs_them(absurd):

    Tenant.objects.create(slug="acme", name="Acme")
    ops = Principal(scope=TenantScope("acme"), role="admin", label="user:ann")
    absurd.create_queue("kitq")
    absurd.freeze(datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC))
    schedule = create_schedule(
        ops, name="halves", task="kit.fails", params={"zero": 2}, every_seconds=60
    )
    assert absurd.tick_schedules() == []  # the first slot is 10:01
    absurd.advance(29)
    assert absurd.tick_schedules() == []
    absurd.advance(1)
    (fired,) = absurd.tick_schedules()
    assert absurd.tick_schedules() == []  # a slot fires once
    ran = absurd.drain(queues=Q)
    assert [(r.task_id, r.status) for r in ran] == [(fired, "completed")]
    assert absurd.result(fired).result == 0.5
    absurd.advance(timedelta(minutes=10))  # ten slots at once: catch_up "skip" fires one
    assert len(absurd.tick_schedules()) == 1
    schedule.refresh_from_db()
    assert (schedule.fires, schedule.skipped) == (2, 9)


def test_tick_schedules_syncs_the_schedules_declared_in_code_first(absurd, monkeypatch):

    spec = registry.get("kit.fails")
    monkeypatch.setattr(
        type(spec),
        "schedules",
        property(
            lambda self: (
                (
                    ScheduleSpec(
                        "hourly-half",
                        every_seconds=3600,
                        task=self.name,
                        tenant="acme",
                        params={"zero": 2},
                    ),
                )
                if self.name == "kit.fails"
                else ()
            )
        ),
    )
    absurd.create_queue("kitq")
    assert not Schedule.objects.filter(name="hourly-half").exists()
    assert absurd.tick_schedules() == []  # synced now, first slot in an hour
    assert Schedule.objects.get(name="hourly-half").code_owned
    absurd.advance(3600)
    (fired,) = absurd.tick_schedules()
    absurd.drain(queues=Q)
    assert absurd.result(fired).result == 0.5
