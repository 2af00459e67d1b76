"""The step timeline's spans, from the engine's own rows (runs, checkpoints, event log)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from absurd_core import engine
from absurd_core.audit import task_timeline
from absurd_core.queries.checkpoints import checkpoint_values
from absurd_core.queries.tasks import find_task
from absurd_core.step_timings import MAX_SPANS, step_timeline
from absurd_core.tenancy import TenantScope
from tests.timeline_seed import EXPECTED, T0, seed_timeline_task

ACME = TenantScope("acme")


def ms(moment, origin=T0) -> int:
    return round((moment - origin).total_seconds() * 1000)


@pytest.mark.django_db(transaction=True)
def test_spans_from_a_seeded_task():
    engine.create_queue("demo")
    try:
        task = seed_timeline_task()
        detail = find_task(ACME, task.task_id)
        items = checkpoint_values(ACME, "demo", task.task_id).items
        entries = task_timeline(ACME, "demo", task.task_id)
        with CaptureQueriesContext(connection) as queries:
            timeline = step_timeline(detail.runs, items, entries, datetime.now(UTC))
        assert len(queries) == 0  # drawn from what the page has already read
        got = [(s.kind, s.name, ms(s.start), ms(s.end)) for s in timeline.spans]
        assert got == EXPECTED
        assert timeline.start == T0 and timeline.end == T0 + timedelta(seconds=15)
        states = {s.name: s.state for s in timeline.spans if s.kind == "attempt"}
        assert states == {"attempt 1": "failed", "attempt 2": "completed"}
        (sleep,) = [s for s in timeline.spans if s.kind == "sleep"]
        assert sleep.until == T0 + timedelta(seconds=10)
    finally:
        engine.drop_queue("demo")


def _entry(kind, seconds, attempt=1, detail=None):
    return SimpleNamespace(
        at=T0 + timedelta(seconds=seconds), source="transition", kind=kind, attempt=attempt,
        detail=detail,
    )  # fmt: skip


def _run(run_id, attempt, state, started, ended=None):
    return SimpleNamespace(
        run_id=run_id, attempt=attempt, state=state,
        started_at=T0 + timedelta(seconds=started) if started is not None else None,
        ended_at=T0 + timedelta(seconds=ended) if ended is not None else None,
    )  # fmt: skip


def test_an_open_event_wait_runs_to_now_and_is_named_by_its_event():
    run = uuid4()
    now = T0 + timedelta(seconds=30)
    entries = [
        _entry("claimed", 0),
        _entry("sleeping", 2, detail={"event": "tenant:acme:go"}),
    ]
    cp = SimpleNamespace(name="prep", updated_at=T0 + timedelta(seconds=2), owner_run_id=run)
    timeline = step_timeline([_run(run, 1, "sleeping", 0)], [cp], entries, now)
    kinds = [(s.kind, s.name, s.end) for s in timeline.spans]
    assert kinds == [
        ("attempt", "attempt 1", None),
        ("step", "prep", T0 + timedelta(seconds=2)),
        ("event", "tenant:acme:go", None),
    ]
    assert timeline.end == now


def test_children_and_approval_waits_and_deferrals_are_told_apart():
    entries = [
        _entry("claimed", 0),
        _entry("sleeping", 1, detail={"event": "children:abc"}),
        _entry("woken", 2),
        _entry("claimed", 3),
        _entry("sleeping", 4, detail={"event": "approval:xyz"}),
        _entry("claimed", 5),
        _entry("deferred", 6),
        _entry("claimed", 7),
        _entry("completed", 8),
    ]
    timeline = step_timeline([_run(uuid4(), 1, "completed", 7, 8)], [], entries, T0)
    waits = [(s.kind, ms(s.start), ms(s.end)) for s in timeline.spans if s.kind != "attempt"]
    assert waits == [("children", 1000, 2000), ("approval", 4000, 5000), ("deferred", 6000, 7000)]
    (attempt,) = [s for s in timeline.spans if s.kind == "attempt"]
    assert (ms(attempt.start), ms(attempt.end)) == (0, 8000)


def test_without_an_event_log_the_run_times_are_used():
    run = uuid4()
    cp = SimpleNamespace(name="only", updated_at=T0 + timedelta(seconds=3), owner_run_id=run)
    timeline = step_timeline([_run(run, 1, "completed", 1, 5)], [cp], [], T0)
    got = [(s.kind, ms(s.start), ms(s.end)) for s in timeline.spans]
    assert got == [("attempt", 1000, 5000), ("step", 1000, 3000)]


def test_never_started_is_empty_and_a_huge_history_is_cut():
    assert step_timeline([_run(uuid4(), 1, "pending", None)], [], [], T0).spans == []
    entries = [_entry("claimed", 0)]
    for i in range(MAX_SPANS):
        entries += [
            _entry("sleeping", 2 * i + 1, detail={"until": "x"}),
            _entry("claimed", 2 * i + 2),
        ]
    timeline = step_timeline([_run(uuid4(), 1, "running", 0)], [], entries, T0)
    assert len(timeline.spans) == MAX_SPANS and timeline.truncated
