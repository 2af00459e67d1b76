"""Checkpoint look-ups a held lease makes redundant are skipped; a lost lease re-reads.

Each test claims a real run, builds the worker's context with a lease clock as the
claim loop does, and then writes a checkpoint of the task *behind the context's
back* (raw SQL on another connection). A context that reads the database on a cache
miss returns that value instead of running the step; one that skips the read runs
the step. So the same write tells the two behaviours apart without counting
statements.
"""

from __future__ import annotations

import json
import time

import pytest
from psycopg import sql
from psycopg.rows import dict_row

from absurd_core import engine
from absurd_core.worker.context import build_context
from absurd_core.worker.lease_clock import LeaseClock
from tests.helpers import raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def claim(queue: str, task_id, worker: str, timeout: int) -> tuple[dict, float]:
    """Claim the task's run as the claim loop does; returns the row and the send time."""
    with raw_connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        sent = time.monotonic()
        cursor.execute(
            "select * from absurd.claim_task(%s, %s, %s, 10) where task_id = %s",
            [queue, worker, timeout, task_id],
        )
        row = cursor.fetchone()
    assert row is not None
    row["checkpoints"] = {}
    return row, sent


@pytest.fixture(autouse=True)
def worker_conns():
    """Autocommit connections like an execution thread's (jsonb decoded), closed after."""
    opened = []
    yield opened
    for conn in opened:
        conn.close()


def context_for(conns: list, queue: str, row: dict, lease: LeaseClock | None, timeout: int):
    conn = raw_connection()
    conns.append(conn)
    row["_lease"] = lease
    return build_context(conn, queue, row, timeout)


def write_checkpoint_elsewhere(queue: str, task_id, run_id, name: str, value) -> None:
    """Another writer (another attempt of the task) stores checkpoint ``name``."""
    with raw_connection() as conn:
        conn.execute(
            sql.SQL(
                "insert into absurd.{} (task_id, checkpoint_name, state, owner_run_id)"
                " values (%s, %s, %s::jsonb, %s)"
                " on conflict (task_id, checkpoint_name) do update set state = excluded.state"
            ).format(sql.Identifier(f"c_{queue}")),
            [task_id, name, json.dumps(value), run_id],
        )


def test_under_a_held_lease_a_missing_checkpoint_is_not_read(queue_name, worker_conns):
    task_id = engine.spawn_task(queue_name, "test.steps", {}).task_id
    row, sent = claim(queue_name, task_id, "lease-holder", 60)
    lease = LeaseClock(60, sent)
    ctx = context_for(worker_conns, queue_name, row, lease, 60)
    # A write no live run could make while this lease is held: the context does not look.
    write_checkpoint_elsewhere(queue_name, task_id, row["run_id"], "a", "from elsewhere")
    ran = []
    assert ctx.step("a", lambda: ran.append(1) or "ran here") == "ran here"
    assert ran == [1]
    # The step's write extended the lease, and the clock knows it.
    assert lease.renewed_from > sent


def test_without_a_lease_clock_the_context_reads_as_upstream(queue_name, worker_conns):
    task_id = engine.spawn_task(queue_name, "test.steps", {}).task_id
    row, _ = claim(queue_name, task_id, "no-clock", 60)
    ctx = context_for(worker_conns, queue_name, row, None, 60)
    write_checkpoint_elsewhere(queue_name, task_id, row["run_id"], "a", "from elsewhere")
    assert ctx.step("a", lambda: pytest.fail("the step ran")) == "from elsewhere"


def test_a_zombie_whose_lease_expired_and_was_reclaimed_re_reads(queue_name, worker_conns):
    """Lease lost: it expired, another worker's claim failed the run and claimed the
    next attempt, which finished step "a". The zombie, reaching step "a", reads the
    checkpoint as upstream does and does not run the step again."""
    task_id = engine.spawn_task(queue_name, "test.steps", {}, max_attempts=3).task_id
    zombie_row, sent = claim(queue_name, task_id, "zombie", 1)
    zombie = context_for(worker_conns, queue_name, zombie_row, LeaseClock(1, sent), 1)

    def reclaimed():
        with raw_connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "select * from absurd.claim_task(%s, 'rescuer', 60, 10) where task_id = %s",
                [queue_name, task_id],
            )
            return cursor.fetchone()

    rescuer_row = wait_for(reclaimed, timeout=15)  # the lease expires after a second
    assert rescuer_row["attempt"] == 2
    rescuer = context_for(
        worker_conns, queue_name, rescuer_row, LeaseClock(60, time.monotonic()), 60
    )
    assert rescuer.step("a", lambda: "done by attempt 2") == "done by attempt 2"

    assert not zombie._lease.held()
    assert zombie.step("a", lambda: pytest.fail("the zombie re-ran a finished step")) == (
        "done by attempt 2"
    )


def test_a_lease_the_lease_keeper_found_gone_re_reads(queue_name, worker_conns):
    task_id = engine.spawn_task(queue_name, "test.steps", {}).task_id
    row, sent = claim(queue_name, task_id, "lost", 60)
    lease = LeaseClock(60, sent)
    ctx = context_for(worker_conns, queue_name, row, lease, 60)
    lease.mark_lost()  # what LeaseKeeper does when extend_claim is refused
    write_checkpoint_elsewhere(queue_name, task_id, row["run_id"], "a", "from elsewhere")
    assert ctx.step("a", lambda: pytest.fail("the step ran")) == "from elsewhere"


def test_the_lease_clock_counts_only_part_of_the_lease():
    lease = LeaseClock(10, renewed_from=100.0)
    assert lease.held(now=100.0 + 7.4)
    assert not lease.held(now=100.0 + 7.6)  # 10 s x 0.8 - 0.5 s
    lease.renewed(105.0)
    assert lease.held(now=112.0)
    lease.renewed(103.0)  # an older extension answering late moves nothing back
    assert lease.valid_until() == 105.0 + 7.5
    lease.renewed(110.0, seconds=2)  # heartbeat(2): the lease now ends 2 s after
    assert lease.valid_until() == pytest.approx(110.0 + 1.1)
    assert not LeaseClock(1, renewed_from=0.0).held(now=0.31)
