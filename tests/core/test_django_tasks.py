"""Django's Tasks API on Absurd (issue 18, item 1): absurd_core.django_tasks.AbsurdBackend.

Enqueues go through absurd_core.spawn (tenant, gate, idempotency, delayed start, the
caller's transaction); real runworker subprocesses run the tasks; get_result reads the
engine. The task functions are in tests/fixtures/apps/testapp/tasks.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse

from absurd_core import engine
from absurd_core.django_tasks import (
    AbsurdBackend,
    InvalidTask,
    TaskResultDoesNotExist,
    enqueue_options,
)
from absurd_core.errors import RateLimited
from tenants.api_keys import issue_key
from tenants.models import RateLimitPolicy, Tenant
from tests.fixtures.apps.testapp.tasks import (
    DjangoTaskBoom,
    django_add,
    django_boom,
    django_context,
    django_enqueue_child,
)
from tests.helpers import WorkerProcess, api, raw_connection, wait_for

try:
    from django.tasks import TaskResultStatus, default_task_backend, task_backends
except ImportError:
    from django_tasks import TaskResultStatus, default_task_backend, task_backends

ADD = "tests.fixtures.apps.testapp.tasks.django_add"
WORKER = ("--queue", "testq", "--poll-interval", "0.05", "--concurrency", "2")


def _task_row(task_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "select task_name, params, headers, max_attempts, state from absurd.t_testq"
            " where task_id = %s",
            [task_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    name, params, headers, max_attempts, state = row
    return name, json.loads(params), json.loads(headers), max_attempts, state


def _count():
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from absurd.t_testq")
        return cursor.fetchone()[0]


def _finished(result):
    def check():
        result.refresh()
        return result.is_finished

    return check


@pytest.fixture
def testq(db):
    engine.create_queue("testq")
    return "testq"


# -- enqueue ----------------------------------------------------------------------------


def test_the_projects_default_backend_is_absurd(settings):
    assert settings.TASKS["default"]["BACKEND"] == "absurd_core.django_tasks.AbsurdBackend"
    assert isinstance(task_backends["default"], AbsurdBackend)
    assert default_task_backend.supports_defer and default_task_backend.supports_get_result


def test_enqueue_spawns_for_the_tenant_and_the_result_id_is_the_task_id(testq):
    with enqueue_options(tenant="acme"):
        result = django_add.enqueue(1, b=2, note="hi")
    assert result.status == TaskResultStatus.READY and result.args == [1]
    name, params, headers, max_attempts, state = _task_row(result.id)
    assert name == ADD  # the function's import path
    assert params == {"args": [1], "kwargs": {"b": 2, "note": "hi"}}
    assert headers == {"tenant": "acme"} and state == "pending"
    assert max_attempts == 1  # Django semantics: a task that raises has failed
    with enqueue_options(tenant="acme"):
        again = django_add.get_result(result.id)
    assert again.status == TaskResultStatus.READY and again.kwargs == {"b": 2, "note": "hi"}
    assert again.attempts == 0 and again.errors == []


def test_enqueue_without_a_tenant_is_refused_and_spawns_nothing(testq):
    with pytest.raises(InvalidTask, match="needs a tenant"):
        django_add.enqueue(1)
    assert _count() == 0


def test_run_after_is_a_delayed_start(testq):
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    with enqueue_options(tenant="acme"):
        result = django_add.using(run_after=at).enqueue(1)
    with connection.cursor() as cursor:
        cursor.execute("select available_at from absurd.r_testq where task_id = %s", [result.id])
        assert cursor.fetchone()[0] == at


def test_priority_is_refused_clearly(testq):
    with pytest.raises(InvalidTask, match="priority=5 cannot be honoured"):
        django_add.using(priority=5)
    assert _count() == 0


def test_queue_name_must_be_an_existing_queue(db):
    with enqueue_options(tenant="acme"), pytest.raises(InvalidTask, match="'testq' does not exist"):
        django_add.enqueue(1)
    engine.create_queue("otherq")
    with enqueue_options(tenant="acme"), pytest.raises(InvalidTask, match="runs on queue 'testq'"):
        django_add.using(queue_name="otherq").enqueue(1)


def test_an_idempotency_key_returns_the_same_task(testq):
    with enqueue_options(tenant="acme", idempotency_key="order-1"):
        first = django_add.enqueue(1)
        again = django_add.enqueue(1)
    with enqueue_options(tenant="globex", idempotency_key="order-1"):
        theirs = django_add.enqueue(1)
    assert first.id == again.id != theirs.id
    assert _count() == 2


def test_the_spawn_gate_applies(testq):
    acme = Tenant.objects.create(slug="acme", name="Acme")
    RateLimitPolicy.objects.create(tenant=acme, spawn_rate=0.01, spawn_burst=1)
    with enqueue_options(tenant="acme"):
        django_add.enqueue(1)
        with pytest.raises(RateLimited):
            django_add.enqueue(2)
    assert _count() == 1


def test_get_result_of_unknown_ids_and_of_other_tasks(testq):
    from absurd_core import spawn

    plain = spawn("test.complete", {}, tenant="acme")
    with enqueue_options(tenant="acme"):
        for bad in ("not-a-uuid", "0193a1b2-7c4e-7d21-9f3a-2b6c1d0e9f11", str(plain.task_id)):
            with pytest.raises(TaskResultDoesNotExist):
                default_task_backend.get_result(bad)


@pytest.mark.django_db(transaction=True)
def test_enqueue_joins_the_callers_transaction():
    """What Django's enqueue_on_commit asked for, by construction: the spawn is part of the
    caller's transaction, so no worker sees it before the commit, a rollback leaves nothing,
    and task_enqueued is sent on commit only."""
    engine.create_queue("testq")
    enqueued = []

    def on_enqueued(sender, task_result, **kwargs):
        enqueued.append(task_result.id)

    try:
        from django.tasks.signals import task_enqueued
    except ImportError:
        from django_tasks.signals import task_enqueued
    task_enqueued.connect(on_enqueued)
    try:
        with enqueue_options(tenant="acme"):
            with pytest.raises(RuntimeError), transaction.atomic():
                rolled_back = django_add.enqueue(1)
                raise RuntimeError("roll back")
            with transaction.atomic():
                kept = django_add.enqueue(2)
                with raw_connection() as other:  # a worker's view before the commit
                    seen = other.execute(
                        "select count(*) from absurd.t_testq where task_id = %s", [kept.id]
                    ).fetchone()[0]
                    assert seen == 0  # (other tests' tasks may be in the queue: not this one)
                assert enqueued == []
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert enqueued == [kept.id]  # the receiver that raises (testapp) changed nothing
    assert _task_row(rolled_back.id) is None and _task_row(kept.id) is not None


# -- run by runworker -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_delayed_django_task_runs_on_time_and_succeeds(side_effects):
    engine.create_queue("testq")
    with WorkerProcess(*WORKER) as worker, enqueue_options(tenant="acme"):
        wait_for(lambda: "worker.start " in worker.output)
        at = datetime.now(UTC) + timedelta(seconds=1.5)
        result = django_add.using(run_after=at).enqueue(2, b=3, note="x")
        assert result.status == TaskResultStatus.READY
        wait_for(_finished(result), timeout=30)
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == {"sum": 5, "note": "x"}
    assert result.started_at >= at  # not before its time
    assert result.attempts == 1 and result.worker_ids[0]
    assert result.enqueued_at <= result.started_at <= result.finished_at
    # Signals in the worker: started and finished, despite a receiver that raises.
    assert side_effects(result.id, "started:RUNNING") == 1
    assert side_effects(result.id, "finished:SUCCESSFUL") == 1
    assert "task.completed" in worker.output


@pytest.mark.django_db(transaction=True)
def test_a_raising_django_task_is_failed_with_its_exception_class_and_traceback():
    engine.create_queue("testq")
    with WorkerProcess(*WORKER), enqueue_options(tenant="acme"):
        result = django_boom.enqueue("kaput")
        wait_for(_finished(result), timeout=30)
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class is DjangoTaskBoom
    assert "raise DjangoTaskBoom(message)" in error.traceback
    assert error.traceback.rstrip().endswith("DjangoTaskBoom: kaput")
    assert result.attempts == 1
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018 (Django raises for a failed task)


@pytest.mark.django_db(transaction=True)
def test_context_and_enqueues_from_inside_a_task():
    engine.create_queue("testq")
    with WorkerProcess(*WORKER), enqueue_options(tenant="acme"):
        ctx_result = django_context.enqueue("L")
        parent = django_enqueue_child.enqueue(41)
        wait_for(_finished(ctx_result), timeout=30)
        wait_for(_finished(parent), timeout=30)
        child = django_add.get_result(parent.return_value)
        wait_for(_finished(child), timeout=30)
    assert ctx_result.return_value == {"label": "L", "attempt": 1, "id": ctx_result.id}
    assert child.return_value == {"sum": 42, "note": ""}
    assert _task_row(child.id)[2] == {"tenant": "acme"}  # the parent's tenant


@pytest.mark.django_db(transaction=True)
def test_durable_steps_through_the_context_and_a_given_name():
    """demo.django_two_steps: task_name= names it, context.absurd.step checkpoints."""
    from absurd_core.registry import registry
    from plugins.demo.tasks import django_two_steps

    assert registry.get("demo.django_two_steps").handler.django_task.func is django_two_steps.func
    engine.create_queue("demo")
    with (
        WorkerProcess("--queue", "demo", "--poll-interval", "0.05"),
        enqueue_options(tenant="acme"),
    ):
        result = django_two_steps.enqueue(i=20)
        wait_for(_finished(result), timeout=30)
    assert result.return_value == {"i": 20, "doubled": 42}
    with connection.cursor() as cursor:
        cursor.execute(
            "select checkpoint_name from absurd.c_demo where task_id = %s order by 1", [result.id]
        )
        assert [row[0] for row in cursor.fetchall()] == ["double", "increment"]


@pytest.mark.django_db(transaction=True)
def test_through_the_json_api_and_the_task_page(client, django_user_model):
    """The same Django task spawned with POST /api/v1/tasks, run by runworker, read back
    through get_result, the API and the dashboard's task page; bad params fail the run
    with the reason, like any task's."""
    from tenants.models import Membership

    engine.create_queue("testq")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    key = issue_key(acme, "ci").key
    with WorkerProcess(*WORKER):
        spawned = api(
            "post", "/tasks", key, {"task": ADD, "params": {"args": [2], "kwargs": {"b": 5}}}
        )
        assert spawned.status_code == 201, spawned.json()
        bad = api("post", "/tasks", key, {"task": ADD, "params": {"x": 1}})
        assert bad.status_code == 201
        task_id = spawned.json()["task_id"]
        with enqueue_options(tenant="acme"):
            result = django_add.get_result(task_id)
            wrong = django_add.get_result(bad.json()["task_id"])
            wait_for(_finished(result), timeout=30)
            wait_for(_finished(wrong), timeout=30)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"sum": 7, "note": ""}
    shown = api("get", f"/tasks/{task_id}", key).json()
    assert shown["state"] == "completed" and shown["result"] == {"sum": 7, "note": ""}
    assert shown["task_name"] == ADD
    assert wrong.status == TaskResultStatus.FAILED
    assert wrong.errors[0].exception_class is TypeError
    assert "params are" in wrong.errors[0].traceback
    user = django_user_model.objects.create_user("op", password="pw-12345-long")
    Membership.objects.create(user=user, tenant=acme, role="operator")
    client.force_login(user)
    page = client.get(reverse("dashboard:task", args=[task_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert ADD in html and "completed" in html
    assert "&quot;sum&quot;: 7" in html  # the result, as indented JSON
    runs = client.get(reverse("dashboard:runs")).content.decode()
    assert f'data-task="{task_id}"' in runs
