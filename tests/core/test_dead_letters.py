"""Dead-letter retry and discard: exactly once under concurrent duplicates, tenant-scoped."""

import threading

import pytest
from django.db import connections

from absurd_core import engine
from absurd_core.actions import dead_letters
from absurd_core.models import DeadLetter
from absurd_core.tenancy import ALL_TENANTS, TenantScope
from tests.core.lifecycle_paths import QUEUE, SqlPath

pytestmark = pytest.mark.django_db(transaction=True)
ACME = TenantScope("acme")


@pytest.fixture
def failed_task():
    engine.create_queue(QUEUE)
    driver = SqlPath()
    task_id = driver.spawn("test.always_fail", {}, max_attempts=1)
    driver.fail(driver.claim())
    yield driver, task_id
    driver.close()
    engine.drop_queue(QUEUE)


def _race(action, dead_letter_id, **kwargs):
    """Run the same action from two threads (two connections) at the same moment."""
    barrier = threading.Barrier(2)
    results = []

    def worker(actor):
        try:
            barrier.wait()
            results.append(action(ACME, dead_letter_id, actor=actor, **kwargs))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"op{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_retries_take_effect_once(failed_task):
    driver, task_id = failed_task
    dead = DeadLetter.objects.get(task_id=task_id)
    results = _race(dead_letters.retry_dead_letter, dead.pk)
    assert sorted(r.applied for r in results) == [False, True]
    loser = next(r for r in results if not r.applied)
    winner = next(r for r in results if r.applied)
    assert loser.message == f"Already retried by {winner.dead_letter.resolved_by}."
    # The task was retried exactly once: one new run, attempt 2.
    runs = driver.q("select attempt from absurd.r_testq where task_id = %s", task_id)
    assert sorted(r["attempt"] for r in runs) == [1, 2]
    assert engine.get_task_result(QUEUE, task_id).state == "pending"


def test_concurrent_discards_take_effect_once(failed_task):
    _, task_id = failed_task
    dead = DeadLetter.objects.get(task_id=task_id)
    results = _race(dead_letters.discard_dead_letter, dead.pk, note="noise")
    assert sorted(r.applied for r in results) == [False, True]
    dead.refresh_from_db()
    assert dead.state == "discarded" and dead.note == "noise" and dead.resolved_at
    # Discard never touches the engine.
    assert engine.get_task_result(QUEUE, task_id).state == "failed"


def test_retry_after_discard_is_refused(failed_task):
    _, task_id = failed_task
    dead = DeadLetter.objects.get(task_id=task_id)
    dead_letters.discard_dead_letter(ACME, dead.pk, actor="ann")
    result = dead_letters.retry_dead_letter(ACME, dead.pk, actor="bob")
    assert not result.applied
    assert result.message == "Already discarded by ann."
    assert engine.get_task_result(QUEUE, task_id).state == "failed"


def test_failing_again_after_a_retry_opens_a_new_dead_letter(failed_task):
    driver, task_id = failed_task
    first = DeadLetter.objects.get(task_id=task_id)
    assert dead_letters.retry_dead_letter(ACME, first.pk, actor="ann").applied
    driver.fail(driver.claim(), message="again")
    letters = DeadLetter.objects.filter(task_id=task_id).order_by("id")
    assert [(d.state, d.error_message) for d in letters] == [
        ("retried", "boom"),
        ("open", "again"),
    ]


def test_retry_as_a_new_task(failed_task):
    _, task_id = failed_task
    dead = DeadLetter.objects.get(task_id=task_id)
    result = dead_letters.retry_dead_letter(ACME, dead.pk, actor="ann", spawn_new=True)
    assert result.applied and result.retried_task_id != task_id
    assert engine.get_task_result(QUEUE, result.retried_task_id).state == "pending"


def test_other_tenants_cannot_see_or_act(failed_task):
    _, task_id = failed_task
    dead = DeadLetter.objects.get(task_id=task_id)
    other = TenantScope("globex")
    assert not dead_letters.dead_letters(other).exists()
    with pytest.raises(DeadLetter.DoesNotExist):
        dead_letters.retry_dead_letter(other, dead.pk, actor="mallory")
    with pytest.raises(DeadLetter.DoesNotExist):
        dead_letters.discard_dead_letter(other, dead.pk, actor="mallory")
    dead.refresh_from_db()
    assert dead.state == "open"
    assert dead_letters.dead_letters(TenantScope(ALL_TENANTS)).filter(pk=dead.pk).exists()


def test_a_failed_engine_retry_leaves_the_dead_letter_open(failed_task):
    _, task_id = failed_task
    dead = DeadLetter.objects.get(task_id=task_id)
    with pytest.raises(engine.AbsurdError, match="max_attempts"):
        dead_letters.retry_dead_letter(ACME, dead.pk, actor="ann", max_attempts=1)
    dead.refresh_from_db()
    assert dead.state == "open" and dead.resolved_by is None
