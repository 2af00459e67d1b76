"""absurd_core.engine against the real engine schema."""

import uuid

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine, spawn
from absurd_core.errors import (
    AbsurdError,
    InvalidArgument,
    InvalidQueueName,
    QueueNotFound,
    TaskNotFound,
)


def _tables_like(fragment: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("select relname from pg_class where relname like %s", [f"%{fragment}%"])
        return [row[0] for row in cursor.fetchall()]


def test_queue_lifecycle(db):
    name = f"life_{uuid.uuid4().hex[:8]}"
    engine.create_queue(name)
    engine.create_queue(name)  # idempotent
    assert name in engine.list_queues()
    assert engine.queue_exists(name)
    policy = engine.get_queue_policy(name)
    assert policy.storage_mode == "unpartitioned"
    engine.set_queue_policy(name, {"cleanup_limit": 50, "cleanup_ttl": "7 days"})
    policy = engine.get_queue_policy(name)
    assert policy.cleanup_limit == 50
    assert policy.cleanup_ttl.days == 7
    engine.drop_queue(name)
    assert name not in engine.list_queues()
    assert _tables_like(name) == []


def test_unknown_policy_key_is_rejected(queue_name):
    with pytest.raises(InvalidArgument, match="bogus"):
        engine.set_queue_policy(queue_name, {"bogus": 1})


@pytest.mark.parametrize(
    "hostile",
    [
        "a; drop table x",
        "q" * 58,
        "é" * 29,  # 58 bytes in UTF-8
        'quo"te',
        "it's",
        "",
        "tab\tname",
        "new\nline",
        " padded",
        "../etc",
        None,
    ],
)
def test_hostile_queue_names_are_rejected_and_create_nothing(db, hostile):
    before = engine.list_queues()
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where n.nspname = 'absurd'"
        )
        tables_before = cursor.fetchone()[0]
    with pytest.raises(InvalidQueueName) as info:
        engine.create_queue(hostile)
    assert str(info.value)  # a readable message
    assert engine.list_queues() == before
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where n.nspname = 'absurd'"
        )
        assert cursor.fetchone()[0] == tables_before


def test_57_byte_name_is_accepted(db):
    name = "q" * 57
    engine.create_queue(name)
    try:
        assert name in engine.list_queues()
    finally:
        engine.drop_queue(name)


def test_spawn_and_result(queue_name):
    spawned = engine.spawn_task(queue_name, "anything", {"x": 1}, headers={"tenant": "t1"})
    assert spawned.created is True
    result = engine.get_task_result(queue_name, spawned.task_id)
    assert result.state == "pending"
    assert result.result is None


def test_idempotency_key_returns_existing_task(queue_name):
    first = engine.spawn_task(queue_name, "anything", {}, idempotency_key="k1")
    second = engine.spawn_task(queue_name, "anything", {}, idempotency_key="k1")
    assert second.task_id == first.task_id
    assert second.created is False


def test_cancel_then_retry_is_refused_with_the_engine_message(queue_name):
    spawned = engine.spawn_task(queue_name, "anything", {})
    engine.cancel_task(queue_name, spawned.task_id)
    assert engine.get_task_result(queue_name, spawned.task_id).state == "cancelled"
    with pytest.raises(AbsurdError, match="not currently failed"):
        engine.retry_task(queue_name, spawned.task_id)
    # The failed call left the surrounding transaction usable.
    assert engine.get_task_result(queue_name, spawned.task_id).state == "cancelled"


def test_emit_event_first_emit_wins(queue_name):
    engine.emit_event(queue_name, "ev", {"n": 1})
    engine.emit_event(queue_name, "ev", {"n": 2})
    with connection.cursor() as cursor:
        query = sql.SQL("select payload from absurd.{} where event_name = %s").format(
            sql.Identifier(f"e_{queue_name}")
        )
        cursor.execute(query.as_string(cursor.connection), ["ev"])
        assert engine.load_json(cursor.fetchone()[0]) == {"n": 1}


def test_cleanup_runs_for_one_queue(queue_name):
    results = engine.cleanup(queue_name)
    assert [r.queue_name for r in results] == [queue_name]
    assert results[0].tasks_deleted == 0


def test_engine_errors_become_typed_exceptions(queue_name):
    with pytest.raises(InvalidArgument, match="retry_strategy"):
        engine.spawn_task(queue_name, "x", {}, retry_strategy={"kind": "sometimes"})
    with pytest.raises(InvalidArgument, match="base_seconds"):
        engine.spawn_task(queue_name, "x", {}, retry_strategy={"kind": "fixed", "base_seconds": -1})
    with pytest.raises(InvalidArgument, match="max_attempts"):
        engine.spawn_task(queue_name, "x", {}, max_attempts=0)
    with pytest.raises(InvalidArgument, match="UUID"):
        engine.cancel_task(queue_name, "not-a-uuid")


def test_unknown_task_id_raises_task_not_found(queue_name):
    with pytest.raises(TaskNotFound):
        engine.get_task_result(queue_name, uuid.uuid4())


def test_missing_queue_is_reported(db):
    with pytest.raises(QueueNotFound):
        engine.spawn_task("no_such_queue_here", "x", {})


def test_spawn_stamps_tenant_and_refuses_client_tenant(db):
    engine.create_queue("demo")
    result = spawn("demo.two_steps", {"i": 3}, tenant="acme")
    with connection.cursor() as cursor:
        cursor.execute(
            'select headers, max_attempts from absurd."t_demo" where task_id = %s', [result.task_id]
        )
        headers, max_attempts = cursor.fetchone()
    assert engine.load_json(headers) == {"tenant": "acme"}
    assert max_attempts == 5
    with pytest.raises(InvalidArgument, match="tenant"):
        spawn("demo.two_steps", {"i": 3}, tenant="acme", headers={"tenant": "other"})
    with pytest.raises(InvalidArgument, match="queue"):
        spawn("demo.two_steps", {"i": 3}, tenant="acme", queue="elsewhere")


def test_install_queue_sql_is_idempotent(queue_name):
    assert engine.install_queue_sql(queue_name) == 0  # create_queue equipped it already
    assert engine.install_queue_sql() == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from pg_trigger where tgrelid = %s::regclass",
            [f'absurd."t_{queue_name}"'],
        )
        assert cursor.fetchone()[0] == 4  # with absurd_control_children (children.sql)
