"""All the dashboard's wording and formatting: what the engine's data looks like on a page.

The engine and the read models return data (counts, rows, outcomes); this module turns
it into words and shapes for templates and toasts. Pages import from here; nothing
below the dashboard does.

- Task page: JSON values, failures and attempt counts. Params, headers, results and
  failures come whole from ``find_task``; they are pretty-printed here and cut to
  ``LIMIT`` characters, so a huge value never makes a huge page. (Checkpoint values are
  cut in SQL: absurd_core.queries.checkpoints.) A runaway attempt count gets a warning in
  words (``attempts_warning``).
- Overview: counts in the engine's state order (marked when they are estimates), the
  backlog's age in words (``human_duration``), and the last hour's completed and failed
  tasks per minute as SVG polyline points (``Sparkline``).
- Workers page: relative times (``ago``) and status badges.
- Dead letters page: the actions' verbs (``dead_letter_verb``) and toasts
  (``dead_letter_toast``, ``dead_letter_bulk_toast``), from
  absurd_core.actions.dead_letters' results.
- Runs page: the bulk cancel and retry confirmation (``bulk_preview``) and outcome
  (``bulk_outcome_toast``), from absurd_core.actions.bulk_tasks' counts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from absurd_core.actions.bulk_tasks import BulkOutcome, Preview
from absurd_core.actions.dead_letters import ActionResult, BulkResult, Kind
from absurd_core.engine import TASK_STATES
from absurd_core.queries.queues import QueueStats

# -- task page: JSON values, failures, attempt counts ----------------------------------

LIMIT = 10 * 1024
#: A task with no attempt limit is flagged from this many attempts on.
UNLIMITED_ATTEMPTS_WARNING = 10


@dataclass(frozen=True)
class JsonBlock:
    text: str
    #: Size of the whole pretty-printed value in bytes.
    size: int
    truncated: bool


def json_block(value: Any, limit: int = LIMIT) -> JsonBlock:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    size = len(text.encode())
    if len(text) > limit:
        return JsonBlock(text[:limit], size, True)
    return JsonBlock(text, size, False)


@dataclass(frozen=True)
class FailureView:
    name: str | None
    message: str | None
    traceback: str | None
    #: Any other keys (workerId, claimExpiredAt, ...), as JSON.
    extra: JsonBlock | None
    #: A failure that is not a JSON object, shown as JSON.
    raw: JsonBlock | None


def failure_view(failure: Any, limit: int = LIMIT) -> FailureView | None:
    """Split the failure_reason our worker and absurd-sdk store ({name, message, traceback})."""
    if failure is None:
        return None
    if not isinstance(failure, dict):
        return FailureView(None, None, None, None, json_block(failure, limit))

    def text(key: str) -> str | None:
        value = failure.get(key)
        if value is None:
            return None
        value = value if isinstance(value, str) else json.dumps(value, default=str)
        return value if len(value) <= limit else value[:limit] + "\n… (cut)"

    shown = ("name", "message", "traceback", "exception_class")
    rest = {k: v for k, v in failure.items() if k not in shown}
    return FailureView(
        name=text("name"),
        message=text("message"),
        traceback=text("traceback"),
        extra=json_block(rest, limit) if rest else None,
        raw=None,
    )


def attempts_warning(attempts: int, max_attempts: int | None) -> str | None:
    """Words for an attempt count that has run away, or None.

    Absurd stops retrying at max_attempts, so more attempts than that mean the limit
    was set afterwards (runworker does so for tasks spawned without one); no limit
    at all means the engine retries for ever.
    """
    if max_attempts is None and attempts >= UNLIMITED_ATTEMPTS_WARNING:
        return (
            f"{attempts} attempts and no attempt limit: this task was spawned without "
            "max_attempts (absurdctl spawn-task without --max-attempts, another client), "
            "and the engine retries it for ever. runworker ends it at the registered "
            "task's limit; a worker that does not know the task never does. Cancel it if "
            "it keeps failing."
        )
    if max_attempts is not None and attempts > max_attempts:
        return (
            f"{attempts} attempts, more than its limit of {max_attempts}: it ran without a "
            "limit before one was set (runworker sets the registered task's limit on tasks "
            "spawned without one)."
        )
    return None


# -- durations and relative times ------------------------------------------------------


def human_duration(delta: timedelta | None) -> str:
    """A short age in words: ``45 s``, ``3 min 12 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def delayed_start(starts_at: datetime | None, now: datetime) -> str | None:
    """A pending task's delayed start still ahead: "starts in 5 min"; None without one."""
    if starts_at is None:
        return None
    return f"starts in {human_duration(starts_at - now)}"


def delayed_start_rows(rows: Sequence[Any], now: datetime) -> list[tuple[Any, str | None]]:
    """The runs list's rows, each with its delayed start in words (or None)."""
    return [(row, delayed_start(getattr(row, "starts_at", None), now)) for row in rows]


def ago(seconds: float) -> str:
    """A short relative time: "4 s ago", "3 min ago", "2 h ago", "5 d ago"."""
    seconds = max(int(seconds), 0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def chart_duration(seconds: float) -> str:
    """A run's duration on the overview chart: "850 ms", "4.2 s", "3 min 12 s"."""
    if seconds < 1:
        return f"{max(seconds * 1000, 0):.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return human_duration(timedelta(seconds=seconds))


# -- workers page ----------------------------------------------------------------------

WORKER_BADGES = {"alive": ("live", "text-bg-success"), "dead": ("dead", "text-bg-danger"),
                 "stopped": ("stopped", "text-bg-secondary")}  # fmt: skip


def worker_badge(status: str) -> tuple[str, str]:
    """(label, Bootstrap badge class) for a worker's status."""
    return WORKER_BADGES.get(status, (status, "text-bg-secondary"))


# -- overview --------------------------------------------------------------------------

SPARK_WIDTH = 120
SPARK_HEIGHT = 24
SPARK_MINUTES = 60


@dataclass(frozen=True)
class Count:
    state: str
    value: int
    estimated: bool

    @property
    def text(self) -> str:
        return f"≈{self.value:,}" if self.estimated else f"{self.value:,}"


@dataclass(frozen=True)
class Sparkline:
    completed: list[int]
    failed: list[int]
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT

    @property
    def completed_total(self) -> int:
        return sum(self.completed)

    @property
    def failed_total(self) -> int:
        return sum(self.failed)

    @property
    def label(self) -> str:
        return f"completed {self.completed_total:,}, failed {self.failed_total:,} in the last hour"

    def _points(self, values: Sequence[int]) -> str:
        # One scale for both lines, so a failure spike is comparable with the completions;
        # a 1-unit margin keeps the stroke inside the box.
        peak = max(max(self.completed, default=0), max(self.failed, default=0), 1)
        step = (self.width - 2) / max(len(values) - 1, 1)
        usable = self.height - 2
        return " ".join(
            f"{1 + i * step:.1f},{1 + usable - value / peak * usable:.1f}"
            for i, value in enumerate(values)
        )

    @property
    def completed_points(self) -> str:
        return self._points(self.completed)

    @property
    def failed_points(self) -> str:
        return self._points(self.failed)


@dataclass(frozen=True)
class OverviewRow:
    name: str
    counts: list[Count]
    total: Count
    paused: bool
    #: The oldest pending task's spawn time (None: nothing pending).
    oldest_pending_at: datetime | None
    backlog_age: str
    sparkline: Sparkline


def overview_row(
    stats: QueueStats, series: dict[str, list[int]] | None, now: datetime
) -> OverviewRow:
    estimated = bool(getattr(stats, "estimated", False))
    counts = [Count(s, int(stats.counts.get(s, 0)), estimated) for s in TASK_STATES]
    oldest = stats.oldest_pending_at
    series = series or {}
    empty = [0] * SPARK_MINUTES
    return OverviewRow(
        name=stats.name,
        counts=counts,
        total=Count("total", sum(c.value for c in counts), estimated),
        paused=bool(stats.paused),
        oldest_pending_at=oldest,
        backlog_age=human_duration(now - oldest) if oldest else "",
        sparkline=Sparkline(
            list(series.get("completed") or empty), list(series.get("failed") or empty)
        ),
    )


# -- runs page: bulk cancel and retry --------------------------------------------------

#: The states each bulk action applies to (absurd_core.actions.bulk_tasks.APPLIES_TO), in words.
BULK_STATE_WORDS = {"cancel": "pending, running or sleeping", "retry": "failed"}
#: What the tasks left alone by each action have (not) done.
BULK_LEFT_ALONE = {"cancel": "already ended", "retry": "not failed"}


def _tasks(count: int) -> str:
    return f"{count:,} {'task' if count == 1 else 'tasks'}"


@dataclass(frozen=True)
class BulkPreview:
    """A bulk action's confirmation in words (``preview``: the counts, nothing changed yet)."""

    preview: Preview

    @property
    def action(self) -> str:
        return self.preview.action

    @property
    def total(self) -> int:
        return self.preview.total

    @property
    def actionable(self) -> int:
        return self.preview.actionable

    @property
    def tasks(self) -> str:
        """E.g. "1,234 tasks"."""
        return _tasks(self.preview.total)

    @property
    def button(self) -> str:
        """The confirming button's label, e.g. "Cancel 1,200 tasks"."""
        return f"{self.action.capitalize()} {_tasks(self.preview.actionable)}"

    @property
    def breakdown(self) -> str:
        """E.g. "1,200 are pending, running or sleeping and will be cancelled; 34 have
        already ended and will be left alone."."""
        preview = self.preview
        words = BULK_STATE_WORDS[self.action]
        if preview.actionable == preview.total:
            return f"{'It is' if preview.total == 1 else 'All of them are'} {words}."
        verb = "is" if preview.actionable == 1 else "are"
        done = "cancelled" if self.action == "cancel" else "retried"
        has = "has" if preview.left_alone == 1 else "have"
        return (
            f"{preview.actionable:,} {verb} {words} and will be {done}; "
            f"{preview.left_alone:,} {has} {BULK_LEFT_ALONE[self.action]} and will be left alone."
        )


def bulk_preview(preview: Preview) -> BulkPreview:
    return BulkPreview(preview)


def bulk_outcome_text(outcome: BulkOutcome) -> str:
    """E.g. "Cancelled 1,230 tasks; 4 had already ended."."""
    verb = {"cancel": "Cancelled", "retry": "Retried"}[outcome.action]
    skipped = {"cancel": "had already ended", "retry": "had not failed"}[outcome.action]
    text = f"{verb} {_tasks(outcome.applied)}"
    if outcome.skipped:
        text += f"; {outcome.skipped:,} {skipped}"
    if outcome.missing:
        text += f"; {outcome.missing:,} no longer {'exists' if outcome.missing == 1 else 'exist'}"
    return text + "."


def bulk_outcome_toast(outcome: BulkOutcome) -> tuple[str, str]:
    """(toast level, text) for a bulk action's outcome."""
    return ("success" if outcome.applied else "warning"), bulk_outcome_text(outcome)


# -- dead letters page: the actions' verbs and toasts ------------------------------------

DEAD_LETTER_VERBS = {
    Kind.RETRY: "Retry",
    Kind.RETRY_NEW: "Retry as new tasks",
    Kind.DISCARD: "Discard",
}
DEAD_LETTER_DONE = {
    Kind.RETRY: "Retried",
    Kind.RETRY_NEW: "Retried as new",
    Kind.DISCARD: "Discarded",
}


def dead_letter_verb(kind: Kind) -> str:
    """The confirmation's verb: "Retry", "Retry as new tasks", "Discard"."""
    return DEAD_LETTER_VERBS[kind]


def dead_letter_toast(kind: Kind, result: ActionResult) -> tuple[str, str]:
    """(toast level, text) for one action's result."""
    if not result.applied:
        # Still open but not retried: the task was removed by queue cleanup.
        level = "warning" if result.dead_letter.state == "open" else "info"
        return level, result.message
    if kind is Kind.RETRY_NEW:
        return "success", f"Retried as new task {result.retried_task_id}."
    if kind is Kind.RETRY:
        return "success", f"Retried task {result.dead_letter.task_id}."
    return "success", f"Discarded dead letter {result.dead_letter.pk}."


def dead_letter_bulk_toast(outcome: BulkResult) -> tuple[str, str]:
    """(toast level, text) for a bulk action's outcome."""
    applied = outcome.applied
    parts = [
        f"{DEAD_LETTER_DONE[outcome.kind]} {applied} dead letter{'s' if applied != 1 else ''}."
    ]
    if outcome.skipped:
        parts.append(f"{outcome.skipped} already resolved.")
    if outcome.failed:
        parts.append(f"{len(outcome.failed)} failed: {outcome.failed[0]}")
    if outcome.remaining:
        parts.append(f"{outcome.remaining} more match; run it again for them.")
    level = "warning" if outcome.failed else ("success" if outcome.applied else "info")
    return level, " ".join(parts)


# -- schedules page --------------------------------------------------------------------

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def schedule_in_words(cron: str | None, every_seconds: int | None, timezone: str) -> str:
    """ "every day at 03:00 Europe/Paris", "every 5 min", "cron 0 */2 * * 1-5 (UTC)"."""
    if every_seconds:
        return f"every {human_duration(timedelta(seconds=every_seconds))}"
    fields = (cron or "").split()
    if len(fields) != 5:
        return cron or ""
    minute, hour, dom, month, dow = fields
    simple = minute.isdigit() and hour.isdigit()
    at = f"{int(hour):02d}:{int(minute):02d} {timezone}" if simple else ""
    if simple and (dom, month, dow) == ("*", "*", "*"):
        return f"every day at {at}"
    if simple and dom == "*" and month == "*" and dow.isdigit() and int(dow) < 7:
        return f"every {_DAYS[int(dow)]} at {at}"
    if simple and dom.isdigit() and month == "*" and dow == "*":
        return f"on day {int(dom)} of every month at {at}"
    if minute.isdigit() and (hour, dom, month, dow) == ("*", "*", "*", "*"):
        return f"every hour at minute {int(minute)}"
    if fields == ["*"] * 5:
        return "every minute"
    return f"cron {cron} ({timezone})"


def relative_time(moment: datetime | None, now: datetime) -> str:
    """ "in 3 min", "4 s ago", or "" for no moment."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    if seconds >= 0:
        return f"in {human_duration(timedelta(seconds=seconds))}"
    return ago(-seconds)


SCHEDULE_TOASTS = {
    "pause": "Paused {name}: it fires nothing until it is resumed.",
    "resume": "Resumed {name}: next fire {next}.",
    "trigger": "Spawned {name}'s task now.",
    "create": "Created schedule {name}: next fire {next}.",
    "update": "Saved {name}: next fire {next}.",
    "delete": "Deleted schedule {name}; the tasks it spawned stay.",
}


def schedule_toast(verb: str, name: str, next_fire: datetime | None = None) -> str:
    when = next_fire.strftime("%Y-%m-%d %H:%M:%S UTC") if next_fire else "none"
    return SCHEDULE_TOASTS[verb].format(name=name, next=when)


def backfill_toast(name: str, slots: int, created: int) -> str:
    if not slots:
        return f"No slot of {name} falls in that range."
    already = slots - created
    text = f"Backfilled {name}: {created} task{'s' if created != 1 else ''} spawned"
    return text + (
        f", {already} slot{'s' if already != 1 else ''} had fired already." if already else "."
    )


def spawned_by_text(name: str, slot: str | None) -> str:
    return f"Spawned by schedule {name}, slot {slot}" if slot else f"Spawned by schedule {name}"


# -- Child workflows (the task page's family card) --------------------------------------


@dataclass(frozen=True)
class FamilyView:
    """A task's parent, children counts and tree, in words (absurd_core.queries.children)."""

    family: Any  # absurd_core.queries.children.Family
    heading: str
    counts_text: str
    truncated_text: str | None
    runs_query: str
    tree_query: str | None
    key: str


def family_view(task_id, family) -> FamilyView | None:
    """None for a task with neither parent nor children (the card is not shown)."""
    if family.parent is None and not family.total:
        return None
    total = family.total
    heading = f"Children ({total:,})" if total else "Child workflow"
    counts_text = (
        ", ".join(f"{n:,} {state}" for state, n in family.counts.items()) if total else
        "No children."
    )  # fmt: skip
    shown = _count_nodes(family.tree)
    truncated_text = (
        f"Showing the first {shown:,} of the tree; the runs list has every child."
        if family.truncated
        else None
    )
    root = (
        family.root.task_id if family.root else (family.parent.task_id if family.parent else None)
    )
    digest = json.dumps([total, sorted(family.counts.items()), _tree_key(family.tree)], default=str)
    key = "children-" + hashlib.sha1(digest.encode(), usedforsecurity=False).hexdigest()[:16]
    return FamilyView(
        family=family,
        heading=heading,
        counts_text=counts_text,
        truncated_text=truncated_text,
        runs_query=f"parent:{task_id}",
        tree_query=f"root:{root}" if root else (f"root:{task_id}" if total else None),
        key=key,
    )


def _count_nodes(nodes) -> int:
    return sum(1 + _count_nodes(n.children) for n in nodes)


def _tree_key(nodes) -> list:
    return [[str(n.task_id), n.state, _tree_key(n.children)] for n in nodes]


# -- error pages (config/error_pages.py): why, and the way out ----------------------------


@dataclass(frozen=True)
class ErrorPage:
    status: int
    title: str
    reason: str
    #: What the operator can do next, in words (the page adds the links).
    way_out: str

    @property
    def problem_detail(self) -> str:
        """The API's problem ``detail`` for the same error."""
        return self.reason


ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    500: "Something went wrong",
}
ERROR_REASONS = {
    400: "The request could not be understood.",
    403: "Your role in the active tenant does not allow this page or action.",
    404: "Nothing is at this address. It may have been removed, it may belong to "
    "another tenant, or the link may be mistyped.",
    500: "The server failed to answer this request. The error has been logged.",
}
ERROR_WAYS_OUT = {
    400: "Go back and check what you sent.",
    403: "Switch to a tenant where you have the role it needs, or ask one of its admins.",
    404: "Check the address, or switch tenant if it belongs to another one.",
    500: "Try again in a moment. If it keeps failing, tell your administrator.",
}


def error_page(status: int, exception: Exception | None = None) -> ErrorPage:
    """The wording of an error page. A PermissionDenied's own message says why (the
    project's messages are written for people); a 404's never does, since it could echo
    what was probed for (and Django's resolver puts its internals there)."""
    reason = ERROR_REASONS.get(status, ERROR_REASONS[500])
    if status == 403 and exception is not None and str(exception):
        reason = str(exception)
    return ErrorPage(
        status=status,
        title=ERROR_TITLES.get(status, ERROR_TITLES[500]),
        reason=reason,
        way_out=ERROR_WAYS_OUT.get(status, ERROR_WAYS_OUT[500]),
    )


# -- runs page: the active filters as chips (dashboard.run_filter_chips) ---------------------

RUN_FILTER_NAMES = {
    "queue": "Queue",
    "state": "State",
    "task": "Task",
    "range": "Spawned",
    "tenant": "Tenant",
    "q": "Search",
}
RUN_RANGE_WORDS = {
    "15m": "last 15 minutes",
    "1h": "last hour",
    "24h": "last 24 hours",
    "7d": "last 7 days",
}


def run_filter_chip_label(name: str, value: str, *, dates: dict[str, str] | None = None) -> str:
    """``Queue: demo``, ``Spawned: last hour``, ``Spawned: from 2026-01-02T10:00``..."""
    if name == "range":
        if value in RUN_RANGE_WORDS:
            value = RUN_RANGE_WORDS[value]
        else:
            dates = dates or {}
            parts = [f"{k} {dates[k].replace('T', ' ')}" for k in ("from", "to") if dates.get(k)]
            value = " ".join(parts) or "custom range"
    return f"{RUN_FILTER_NAMES.get(name, name)}: {value}"


# -- time: relative times, durations, engine reasons, the step timeline ----------------
#
# Every time a page shows goes through ``time_tag`` (the ``reltime`` template filter,
# dashboard/templatetags/timefmt.py): the relative time as text ("3 min ago", "in 20 s"),
# the absolute time with milliseconds, in the current time zone and labelled with it, on
# hover (title), and the ISO time for machines (datetime). static/dashboard/reltime.js
# refreshes the text every 10 s with the same rules (``relative_text``).


def _signed_units(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def relative_text(at: datetime, now: datetime) -> str:
    """ "3 min ago", "in 20 s", "just now" (under a second either way)."""
    delta = (at - now).total_seconds()
    if abs(delta) < 1:
        return "just now"
    text = _signed_units(int(abs(delta)))
    return f"in {text}" if delta > 0 else f"{text} ago"


def absolute_time(at: datetime) -> str:
    """``2026-12-05 16:24:02.123 UTC``: milliseconds, in the current time zone, labelled."""
    from django.utils import timezone

    local = timezone.localtime(at)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} {local.tzname() or 'UTC'}"


def clock_time_ms(at: datetime) -> str:
    """``16:24:02.123`` in the current time zone (timeline rows of one day)."""
    from django.utils import timezone

    local = timezone.localtime(at)
    return f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}"


def iso_ms(at: datetime) -> str:
    """The ISO 8601 time with milliseconds and its offset, for ``<time datetime>``."""
    return at.isoformat(timespec="milliseconds")


def time_tag(at: datetime | None, now: datetime, *, empty: str = "—") -> str:
    """``<time datetime=ISO title=absolute data-reltime>relative</time>`` (safe HTML)."""
    from django.utils.html import format_html

    if not isinstance(at, datetime):  # None, or "" from a missing template variable
        return empty
    return format_html(
        '<time datetime="{}" title="{}" data-reltime>{}</time>',
        iso_ms(at),
        absolute_time(at),
        relative_text(at, now),
    )


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def duration_text(value: timedelta | float | None) -> str:
    """A run's or task's duration: ``850 ms``, ``1.2 s``, ``45 s``, ``3 min 4 s``, ``2 h 5 min``."""
    seconds = _seconds(value)
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 10:
        return f"{int(seconds * 10) / 10:.1f} s"
    return human_duration(timedelta(seconds=seconds))


def duration_ms_text(value: timedelta | float | None) -> str:
    """A duration to the millisecond (the step timeline): ``125 ms``, ``1.234 s``, ``3 min 4 s``."""
    seconds = _seconds(value)
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{round(seconds * 1000) / 1000:.3f} s"
    return human_duration(timedelta(seconds=seconds))


def elapsed_text(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """From ``start`` to ``end`` (or to ``now`` while not ended, marked "so far")."""
    if start is None:
        return ""
    if end is None:
        return f"{duration_text(now - start)} so far"
    return duration_text(end - start)


#: The failure names the engine (and our SQL) writes itself, which begin with "$", in
#: words. absurdctl 0.5.1's absurd.sql writes one, in claim_task when a lease expires;
#: absurd_core/sql writes none (tests/dashboard/test_time_presenters.py greps both).
ENGINE_REASONS = {
    "$ClaimTimeout": (
        "The worker did not finish or extend its lease in time; it may have crashed or "
        "been cut off. The engine failed this attempt; the run was retried if attempts "
        "remained."
    ),
}

#: What the engine's and the SDK's "$" step (checkpoint) names stand for.
STEP_NAME_PREFIXES = {
    "$awaitEvent:": "waited for the event",
    "$awaitTaskResult:": "waited for the result of task",
    "$child:": "started the child",
    "$children:": "started the children",
}


def engine_reason(name: str | None) -> str | None:
    """The words for an engine failure name (``$ClaimTimeout``), or None for others."""
    if not name or not name.startswith("$"):
        return None
    return ENGINE_REASONS.get(
        name,
        "A failure the engine recorded itself (its name begins with $), not the task's code.",
    )


def step_name_text(name: str) -> str:
    """A checkpoint's name in words when the engine or SDK chose it, else the name."""
    for prefix, words in STEP_NAME_PREFIXES.items():
        if name.startswith(prefix):
            return f"{words} {name[len(prefix) :]}"
    return name


@dataclass(frozen=True)
class TimelineBar:
    kind: str
    label: str
    #: The raw name (a checkpoint's name, an event's name) for the hover text.
    name: str
    state: str
    attempt: int | None
    #: Position and width in percent of the timeline's span (0-100).
    x: float
    width: float
    offset_ms: int
    duration_ms: int
    offset_text: str
    duration_text: str
    open: bool
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class TimelineView:
    bars: list[TimelineBar]
    total_text: str
    start: datetime | None
    truncated: bool


#: The narrowest bar drawn, in percent: a 1 ms step in an hour-long run stays visible.
MIN_BAR_PERCENT = 0.4

WAIT_LABELS = {
    "sleep": "sleep",
    "children": "waiting for its children",
    "approval": "waiting for an approval decision",
    "deferred": "deferred (tenant concurrency limit)",
}


def _bar_label(span) -> str:
    if span.kind == "attempt":
        return f"Attempt {span.attempt} · {span.state}"
    if span.kind == "event" and not span.name.startswith("$"):
        return f"waiting for event {span.name}"  # a wait from the event log
    if span.kind == "sleep" and span.until is not None:
        return f"sleep until {clock_time_ms(span.until)}"
    if span.kind in WAIT_LABELS:
        return WAIT_LABELS[span.kind]
    return step_name_text(span.name)


def timeline_view(timeline, now: datetime) -> TimelineView | None:
    """absurd_core.step_timings' spans as bars: percentages of the run and ms texts."""
    if not timeline.spans:
        return None
    origin = timeline.start
    total_ms = max((timeline.end - origin).total_seconds() * 1000, 1.0)
    bars = []
    for span in timeline.spans:
        end = span.end or now
        offset_ms = max((span.start - origin).total_seconds() * 1000, 0.0)
        duration_ms = max((end - span.start).total_seconds() * 1000, 0.0)
        x = min(offset_ms / total_ms * 100, 100 - MIN_BAR_PERCENT)
        width = min(max(duration_ms / total_ms * 100, MIN_BAR_PERCENT), 100 - x)
        bars.append(
            TimelineBar(
                kind=span.kind,
                label=_bar_label(span),
                name=span.name,
                state=span.state,
                attempt=span.attempt,
                x=round(x, 3),
                width=round(width, 3),
                offset_ms=round(offset_ms),
                duration_ms=round(duration_ms),
                offset_text=f"+{duration_ms_text(offset_ms / 1000)}",
                duration_text=duration_ms_text(duration_ms / 1000)
                + (" so far" if span.end is None else ""),
                open=span.end is None,
                start=span.start,
                end=span.end,
            )
        )
    return TimelineView(bars, duration_ms_text(total_ms / 1000), origin, timeline.truncated)


# -- worker liveness (issue 19 item 8) ---------------------------------------------------


def worker_removed(worker_id: str) -> str:
    return f"Removed worker {worker_id} from the list."


def worker_retention(seconds: float) -> str:
    """How long dead and stopped workers stay listed, in words: "1 d", "2 h"."""
    return human_duration(timedelta(seconds=seconds))


def dead_hold_note(hold) -> str:
    """What a run held by a worker that stopped responding waits for, in words
    (``hold``: an absurd_core.queries.worker_holds.DeadHold):

    "held by w3, which stopped responding 40 s ago; lease expires in 12 s, then the run
    is retried"."""
    if hold.last_seen is not None:
        silent = ago((hold.now - hold.last_seen).total_seconds())
        who = f"held by {hold.worker_id}, which stopped responding {silent}"
    else:
        who = f"held by {hold.worker_id}, which no longer renews its lease"
    left = (hold.lease_expires_at - hold.now).total_seconds()
    if left > 0:
        remaining = human_duration(timedelta(seconds=left))
        return f"{who}; lease expires in {remaining}, then the run is retried"
    expired = ago(-left)
    return f"{who}; lease expired {expired}: the next claim on its queue retries the run"


# -- approvals page (issue 19 item 9) ----------------------------------------------------

#: (label, Bootstrap badge class) by a request's state: the outcome's colour.
APPROVAL_BADGES = {
    "pending": ("pending", "text-bg-primary"),
    "approved": ("approved", "text-bg-success"),
    "rejected": ("rejected", "text-bg-danger"),
    "expired": ("expired", "text-bg-warning"),
    "cancelled": ("cancelled", "bg-body-secondary text-body-emphasis border"),
}
#: An approver's answer, as a badge.
ANSWER_BADGES = {
    "approve": ("approved", "text-bg-success"),
    "reject": ("rejected", "text-bg-danger"),
}


def approval_badge(state: str) -> tuple[str, str]:
    return APPROVAL_BADGES.get(state, (state, "text-bg-secondary"))


def answer_badge(decision: str) -> tuple[str, str] | None:
    """None while the approver has not answered."""
    return ANSWER_BADGES.get(decision) if decision else None


def _approvers(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def approval_event_text(kind: str, actor: str, detail: Any) -> str:
    """One audit entry of an approval request in words, never a Python dict:
    "Asked a@example.com, b@example.com (any one decides)", "Link sent to a@example.com",
    "a@example.com approved: “fine”", "Settled: approved"."""
    detail = detail if isinstance(detail, dict) else {}
    approver = detail.get("approver", "")
    if kind == "requested":
        policy = {"any": "any one decides", "all": "all must approve", "quorum": "a quorum decides"}
        text = f"Asked {_approvers(detail.get('approvers', []))}"
        if detail.get("policy") in policy:
            text += f" ({policy[detail['policy']]})"
        return text + (f", by {actor}" if actor else "")
    if kind == "notified":
        return f"Link sent to {approver}"
    if kind == "reminded":
        return f"Reminder sent to {approver}"
    if kind == "notify_failed":
        return f"Sending to {approver} failed: {detail.get('error', 'unknown error')}"
    if kind == "answered":
        verb = {"approve": "approved", "reject": "rejected"}.get(detail.get("decision"), "answered")
        who = approver or actor
        text = f"{who} {verb}"
        if actor and approver and actor != approver:
            text += f" (via {actor})"
        comment = detail.get("comment")
        return text + (f": “{comment}”" if comment else "")
    if kind in APPROVAL_BADGES:
        return f"Settled: {kind}" + (f" by {actor}" if actor else "")
    words = kind.replace("_", " ").capitalize()
    extra = "; ".join(
        f"{key.replace('_', ' ')}: {_approvers(value)}" for key, value in detail.items()
    )
    return words + (f" by {actor}" if actor else "") + (f" ({extra})" if extra else "")


# -- Partitioned queues (the Queues page's partitions section) ---------------------------

STORAGE_MODE_WORDS = {
    "unpartitioned": "one table per kind",
    "partitioned": "weekly partitions",
}


def byte_size(size: int) -> str:
    """``812 kB``, ``1.4 MB``, ``3.0 GB``: powers of 1024, as psql's pg_size_pretty."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


@dataclass(frozen=True)
class PartitionRow:
    tag: str
    range_text: str
    tasks_text: str
    size_text: str
    total_bytes: int


def partition_rows(info: Any) -> list[PartitionRow]:
    """A ``PartitionInfo``'s weeks (absurd_core.queries.partitions) as table rows."""
    rows = []
    for week in info.weeks:
        if week.is_default:
            span = "anything outside the weeks (default partition)"
        else:
            span = f"{week.range_from:%Y-%m-%d} to {week.range_to:%Y-%m-%d}"
        tasks = "not analyzed yet" if week.tasks is None else f"≈{week.tasks:,}"
        rows.append(
            PartitionRow(week.tag, span, tasks, byte_size(week.total_bytes), week.total_bytes)
        )
    return rows


def retention_text(info: Any) -> str:
    """How old partitions go, in one sentence."""
    keep = human_duration(info.cleanup_ttl)
    if info.detach_mode == "empty":
        return (
            f"Cleanup deletes finished tasks older than {keep}; weeks that are empty and older "
            f"than {human_duration(info.detach_min_age)} are detached and dropped whole."
        )
    return (
        f"Cleanup deletes finished tasks older than {keep}; partitions are never dropped "
        "(detach mode: none)."
    )


def partitions_dropped_toast(queue: str, dropped: list[str]) -> tuple[str, str]:
    if not dropped:
        return "info", f"No partition of {queue} may go yet: none is both old and empty."
    return "success", f"Dropped {len(dropped)} old empty partitions of {queue}."


# -- the read replica's lag (docs/scaling.md) --------------------------------------------


def replica_lag_notice(status: Any, threshold_seconds: float) -> str | None:
    """The shell's banner when pages read from a replica behind by more than the threshold."""
    if status is None:
        return None
    if not status.reachable:
        return "The read replica cannot be reached: pages read from the primary database."
    seconds = status.seconds_behind
    if seconds is None or seconds <= threshold_seconds:
        return None
    paused = " (its replay is paused)" if status.paused else ""
    return (
        f"Pages read from a replica that is {human_duration(timedelta(seconds=seconds))} "
        f"behind{paused}: newer changes may be missing. Your own changes are shown at once."
    )
