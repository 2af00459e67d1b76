"""The event trigger and the installers touch only the tables of real queues (issue 14,
defect 10): upstream's own test_drop_queue_supports_legacy_overlong_names, on our database,
and the other tables the absurd schema may hold."""

import uuid

import pytest
from django.db import connection
from psycopg import sql

from absurd_core import engine
from absurd_core.models import TaskEvent

pytestmark = pytest.mark.django_db

PREFIXES = ("t", "r", "c", "e", "w")


def _equipment(table: str) -> tuple[list[str], list[str]]:
    """(our triggers, our indexes) on ``absurd.<table>``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select tgname from pg_trigger where tgrelid = %s::regclass"
            " and tgname like 'absurd\\_control\\_%%' order by 1",
            [sql.Identifier("absurd", table).as_string(cursor.connection)],
        )
        triggers = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass"
            " and indexrelid::regclass::text like 'absurd.ac\\_%%' order by 1",
            [sql.Identifier("absurd", table).as_string(cursor.connection)],
        )
        indexes = [row[0] for row in cursor.fetchall()]
    return triggers, indexes


def _queues() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("select queue_name from absurd.list_queues()")
        return [row[0] for row in cursor.fetchall()]


def test_drop_queue_supports_legacy_overlong_names():
    """Upstream's test, step by step: a registered legacy queue whose tables are not the
    engine's shape. Our event trigger used to fail the CREATE TABLE of t_<queue>."""
    legacy_queue = "q" * 58
    with connection.cursor() as cursor:
        cursor.execute("insert into absurd.queues (queue_name) values (%s)", [legacy_queue])
        for prefix in PREFIXES:
            cursor.execute(
                sql.SQL("create table absurd.{table} (id integer)")
                .format(table=sql.Identifier(f"{prefix}_{legacy_queue}"))
                .as_string(cursor.connection)
            )
        # Nothing of ours on them, and the fallback installer passes them over too.
        for prefix in PREFIXES:
            assert _equipment(f"{prefix}_{legacy_queue}") == ([], [])
        cursor.execute("select absurd_control.install_queue(%s)", [legacy_queue])
        assert cursor.fetchone()[0] is False
        cursor.execute("select absurd_control.install_all_queues()")
        for prefix in PREFIXES:
            assert _equipment(f"{prefix}_{legacy_queue}") == ([], [])

        cursor.execute("select absurd.drop_queue(%s)", [legacy_queue])
    assert legacy_queue not in _queues()


def test_a_registered_task_table_missing_an_engine_column_is_not_equipped():
    queue = f"q_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("insert into absurd.queues (queue_name) values (%s)", [queue])
        # Every column our SQL reads but headers.
        cursor.execute(
            sql.SQL(
                "create table absurd.{} (task_id uuid primary key, task_name text, state text,"
                " attempts integer, last_attempt_run uuid)"
            )
            .format(sql.Identifier(f"t_{queue}"))
            .as_string(cursor.connection)
        )
        assert _equipment(f"t_{queue}") == ([], [])
        cursor.execute("select absurd_control.install_queue(%s)", [queue])
        assert cursor.fetchone()[0] is False
        cursor.execute("select absurd.drop_queue(%s)", [queue])


def test_the_fallback_for_roles_without_the_event_trigger_follows_the_same_rule():
    """runworker's housekeeping (install_all_queues) and engine.create_queue, with the event
    trigger off: legacy tables are passed over, a new queue is still equipped."""
    legacy_queue = "l" * 58
    queue = f"q_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("alter event trigger absurd_control_create_table disable")
        cursor.execute("insert into absurd.queues (queue_name) values (%s)", [legacy_queue])
        for prefix in PREFIXES:
            cursor.execute(
                sql.SQL("create table absurd.{table} (id integer)")
                .format(table=sql.Identifier(f"{prefix}_{legacy_queue}"))
                .as_string(cursor.connection)
            )
        engine.create_queue(queue)
        cursor.execute("select absurd_control.install_all_queues()")
        for prefix in PREFIXES:
            assert _equipment(f"{prefix}_{legacy_queue}") == ([], [])
        triggers, indexes = _equipment(f"t_{queue}")
        assert triggers == [
            "absurd_control_children",  # children.sql, through the installer registry
            "absurd_control_task_delete",
            "absurd_control_task_insert",
            "absurd_control_task_update",
        ]
        assert len(indexes) == 4  # tenant, task name, parent, root
        assert _equipment(f"r_{queue}")[0] == [
            "absurd_control_run_released",
            "absurd_control_wake",
        ]
        cursor.execute("select absurd.drop_queue(%s)", [legacy_queue])
        engine.drop_queue(queue)
        cursor.execute("alter event trigger absurd_control_create_table enable")
    assert legacy_queue not in _queues()


def test_a_partitioned_queue_is_equipped_on_its_parents_and_never_on_a_partition():
    """relkind 'p' parents are a queue's tables; their partitions (t_<queue>_<week>, ...) are
    not, even when a registered queue has the partition's suffixed name."""
    queue = f"q_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("select absurd.create_queue(%s, 'partitioned')", [queue])
        # A queue named like the default partition: upstream's "create table if not exists"
        # leaves it the partition as its t_ table.
        cursor.execute("select absurd.create_queue(%s)", [f"{queue}_d"])
        cursor.execute(
            "select absurd_control.queue_table('t_', %s)::text,"
            " absurd_control.queue_table('t_', %s)::text",
            [queue, f"{queue}_d"],
        )
        parent, lookalike = cursor.fetchone()
        assert parent == f"absurd.t_{queue}"
        # absurd.t_<queue>_d is both the partition and that queue's name: not a queue table.
        assert lookalike is None
        cursor.execute(
            "select task_id from absurd.spawn_task(%s, 'job', '{}'::jsonb,"
            ' \'{"headers": {"tenant": "acme"}}\'::jsonb)',
            [queue],
        )
        (task_id,) = cursor.fetchone()
    triggers, indexes = _equipment(f"t_{queue}")
    assert len(triggers) == 4 and len(indexes) == 4  # with the children trigger and indexes
    assert TaskEvent.objects.filter(queue=queue, task_id=task_id, kind="spawned").exists()
    engine.drop_queue(queue)
    engine.drop_queue(f"{queue}_d")
