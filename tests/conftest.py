import uuid

import pytest
from django.db import connection

from absurd_core import engine


@pytest.fixture
def queue_name(db):
    """A fresh queue, dropped after the test."""
    name = f"q_{uuid.uuid4().hex[:12]}"
    engine.create_queue(name)
    yield name
    engine.drop_queue(name)


@pytest.fixture
def side_effects(transactional_db):
    with connection.cursor() as cursor:
        from tests.testapp.tasks import SIDE_EFFECTS_DDL

        cursor.execute(SIDE_EFFECTS_DDL)
        cursor.execute("truncate test_side_effects")

    def count(task_id, step=None):
        with connection.cursor() as cursor:
            sql = "select count(*) from test_side_effects where task_id = %s"
            params = [task_id]
            if step:
                sql += " and step = %s"
                params.append(step)
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    return count


@pytest.fixture
def no_slots(transactional_db):
    """Start with no concurrency slots or parked runs (other tests may leave some behind)."""
    with connection.cursor() as cursor:
        cursor.execute("truncate absurd_control.running_slot, absurd_control.parked_run")
