"""A task's step timings: when each attempt, step and wait began and ended.

The task page draws them as a horizontal timeline (dashboard/templates/dashboard/
_task_step_timeline.html), like Temporal's event timeline. Nothing here reads the
database: the spans are derived from what the task page has already read, so the
timeline costs no query of its own:

- the runs (``find_task``): each attempt's end (completed_at, failed_at, or the task's
  cancelled_at), and its last start when the event log has nothing;
- the event log (``task_timeline``'s transitions, written by the lifecycle triggers on
  every path, timed by ``absurd.current_time()``): every claim starts an execution slice,
  a ``sleeping`` or ``deferred`` transition ends it and starts a wait (a sleep, an event,
  the children, an approval decision, the tenant's concurrency limit), which the next
  ``woken`` or ``claimed`` ends; ``completed``, ``failed``, ``retry_scheduled`` and
  ``cancelled`` end the attempt;
- the checkpoints (``checkpoint_values``: name, updated_at, owner_run_id): a step ends
  when its checkpoint is written and began when the previous checkpoint of its attempt's
  slice was written (or when the slice began). A checkpoint is written once, so a step
  replayed after a retry keeps its first attempt's timing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from absurd_core.children import WAIT_EVENT_PREFIX as CHILDREN_EVENT_PREFIX
from absurd_core.event_names import is_system_event

#: Spans drawn at most; a task with more (thousands of sleeps) shows the first ones.
MAX_SPANS = 300

ATTEMPT_ENDS = ("completed", "failed", "cancelled", "retry_scheduled")


@dataclass(frozen=True)
class Span:
    #: "attempt", "step", "sleep", "event", "children", "approval", "deferred",
    #: "child" (a child spawned), "child_result" (a child's result awaited).
    kind: str
    #: The step's checkpoint name, the event awaited, or "attempt N".
    name: str
    start: datetime
    #: None: still going on (the timeline ends it at ``now``).
    end: datetime | None
    attempt: int | None
    #: For attempts: the run's state; for the others: "done" or "open".
    state: str
    #: For sleeps: until when; for event waits: the wait's timeout, if any.
    until: datetime | None = None


@dataclass(frozen=True)
class StepTimeline:
    spans: list[Span]
    #: The first span's start (None: nothing ran yet).
    start: datetime | None
    #: The last span's end, or ``now`` while one is open.
    end: datetime | None
    #: More spans than MAX_SPANS: the first ones are kept.
    truncated: bool = False


@dataclass
class _Slice:
    start: datetime
    end: datetime | None = None


def _step_kind(name: str) -> str:
    if name.startswith("$awaitEvent:"):
        return "event"
    if name.startswith("$awaitTaskResult:"):
        return "child_result"
    if name.startswith("$children:") or name.startswith("$child:"):
        return "child"
    return "step"


def _wait_kind(kind: str, detail: Any) -> tuple[str, str, datetime | None]:
    """(span kind, name, until) of a wait the event log recorded."""
    detail = detail if isinstance(detail, dict) else {}
    if kind == "deferred":
        return "deferred", "deferred by the tenant's concurrency limit", None
    event = detail.get("event")
    timeout = _parse_time(detail.get("timeout_at"))
    if isinstance(event, str) and event:
        if event.startswith(CHILDREN_EVENT_PREFIX):
            return "children", "children", timeout
        if is_system_event(event):
            return "approval", "approval decision", timeout
        return "event", event, timeout
    return "sleep", "sleep", _parse_time(detail.get("until"))


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def step_timeline(
    runs: Iterable[Any], checkpoints: Iterable[Any], transitions: Iterable[Any], now: datetime
) -> StepTimeline:
    """The spans of one task, ordered by start (attempts before what they hold).

    ``runs``: RunInfo-like (run_id, attempt, state, started_at, ended_at);
    ``checkpoints``: (name, updated_at, owner_run_id); ``transitions``: the event log's
    rows as ``audit.TimelineEntry`` (at, source, kind, attempt, detail), oldest first.
    """
    runs = list(runs)
    slices: dict[int, list[_Slice]] = {}
    waits: list[Span] = []
    open_wait: Span | None = None
    ended: dict[int, datetime] = {}

    def close_wait(at: datetime) -> None:
        nonlocal open_wait
        if open_wait is not None:
            waits.append(Span(**{**open_wait.__dict__, "end": at, "state": "done"}))
            open_wait = None

    def close_slice(attempt: int | None, at: datetime) -> None:
        for key in [attempt] if attempt in slices else list(slices):
            if slices[key] and slices[key][-1].end is None:
                slices[key][-1].end = at

    for entry in transitions:
        if getattr(entry, "source", "transition") != "transition":
            continue
        kind, at, attempt = entry.kind, entry.at, entry.attempt
        if kind == "claimed":
            close_wait(at)
            close_slice(None, at)  # a lost lease's slice ends when the next one begins
            slices.setdefault(attempt or 0, []).append(_Slice(at))
        elif kind in ("sleeping", "deferred"):
            close_slice(attempt, at)
            close_wait(at)
            wait_kind, name, until = _wait_kind(kind, entry.detail)
            open_wait = Span(wait_kind, name, at, None, attempt, "open", until)
        elif kind == "woken":
            close_wait(at)
        elif kind in ATTEMPT_ENDS:
            close_slice(attempt, at)
            close_wait(at)
            if attempt is not None:
                ended.setdefault(attempt, at)

    attempts: list[Span] = []
    attempt_of = {run.run_id: run.attempt for run in runs}
    for run in runs:
        run_slices = slices.get(run.attempt)
        end = run.ended_at or ended.get(run.attempt)
        if run_slices:
            start = run_slices[0].start
            if end is None and run.state not in ("running", "sleeping"):
                end = run_slices[-1].end  # pending again (a lost lease) or an old run
        elif run.started_at is not None:
            start = run.started_at  # no event log (pruned): the run's last start
            slices[run.attempt] = [_Slice(start, end)]
        else:
            continue  # never started
        if end is not None and run_slices:
            last = run_slices[-1]
            if last.end is None or last.end > end:
                last.end = end
        attempts.append(Span("attempt", f"attempt {run.attempt}", start, end, run.attempt,
                             run.state))  # fmt: skip

    steps: list[Span] = []
    previous: dict[int, datetime] = {}
    for cp in sorted(checkpoints, key=lambda c: (c.updated_at, c.name)):
        attempt = attempt_of.get(cp.owner_run_id)
        at = cp.updated_at
        start = at
        for piece in slices.get(attempt, []):
            if piece.start <= at and (piece.end is None or at <= piece.end):
                start = piece.start
                break
        last = previous.get(attempt)
        if last is not None and start <= last <= at:
            start = last
        previous[attempt] = at
        steps.append(Span(_step_kind(cp.name), cp.name, start, at, attempt, "done"))

    if open_wait is not None:
        waits.append(open_wait)
    order = {"attempt": 0}
    spans = sorted(
        attempts + steps + waits,
        key=lambda s: (s.start, order.get(s.kind, 1), s.end or now),
    )
    truncated = len(spans) > MAX_SPANS
    spans = spans[:MAX_SPANS]
    if not spans:
        return StepTimeline([], None, None)
    start = min(s.start for s in spans)
    end = max((s.end or now) for s in spans)
    return StepTimeline(spans, start, max(end, start), truncated)
