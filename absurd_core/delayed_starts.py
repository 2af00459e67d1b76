"""Delayed starts: ``spawn(..., run_after=...)`` (issue 18).

The engine's spawn has no start time, so the spawn statement goes through
``absurd_control.spawn_task_after`` (absurd_core/sql/delayed_starts.sql), which
spawns with ``absurd.spawn_task`` and moves the new first run's ``available_at``
ahead. The task stays ``pending`` until then; runworker's timer for the next
known wake-up claims it at that time.

``run_after`` is either
- an aware ``datetime``: the earliest start (one in the past is no delay), or
- a ``timedelta`` of at least zero: added to the engine's clock
  (``absurd.current_time()``, which ``absurd.fake_now`` moves), in the statement.

A delay of more than ``MAX_START_DELAY`` (a unit mistake, seconds for milliseconds), a
naive datetime, a negative delay or a start the task's ``cancellation.max_delay`` would
cancel first are refused with InvalidArgument. A datetime may be any aware time: a far
one is a long wait, and the task can be cancelled meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from absurd_core.errors import InvalidArgument

#: The longest delay (a timedelta, the API's delay_seconds) a spawn may ask for: a delay
#: longer than that is a unit mistake (milliseconds given as seconds) rather than a plan.
MAX_START_DELAY = timedelta(days=366)

#: The spawn function spawning.py uses instead of absurd.spawn_task when a start is delayed:
#: an explicit time, or a delay from the engine's clock.
DELAYED_SPAWN_FROM = (
    "absurd_control.spawn_task_after(%(queue)s, %(task)s, %(params)s::jsonb,"
    " %(options)s::jsonb, %(run_at)s::timestamptz, %(run_delay)s::interval)"
)


def start_delay(
    run_after: datetime | timedelta | None, cancellation: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The statement values of ``run_after`` (``run_at``, ``run_delay``), or None for no
    delay. Raises InvalidArgument for what cannot be a start time."""
    if run_after is None:
        return None
    if isinstance(run_after, timedelta):
        delay = run_after
        if delay < timedelta(0):
            raise InvalidArgument("run_after must not be a negative delay.")
        values = {"run_at": None, "run_delay": delay}
    elif isinstance(run_after, datetime):
        if timezone.is_naive(run_after):
            raise InvalidArgument("run_after must be a timezone-aware datetime.")
        delay = run_after - timezone.now()
        # In UTC: RFC 3339 (and Python) allow offsets up to ±23:59, PostgreSQL's timestamptz
        # input only up to ±15:59 ("time zone displacement out of range").
        values = {"run_at": run_after.astimezone(UTC), "run_delay": None}
    else:
        raise InvalidArgument("run_after must be a datetime or a timedelta.")
    if isinstance(run_after, timedelta) and delay > MAX_START_DELAY:
        raise InvalidArgument(
            f"run_after is a delay of more than {MAX_START_DELAY.days} days; a delay that long "
            "is refused (give the start as a datetime if you mean it)."
        )
    max_delay = (cancellation or {}).get("max_delay")
    if max_delay is not None and delay.total_seconds() >= float(max_delay):
        raise InvalidArgument(
            f"run_after is {int(delay.total_seconds())} s ahead, but the task's "
            f"cancellation.max_delay ({max_delay} s, counted from the spawn) would cancel "
            "it before it starts."
        )
    return values
