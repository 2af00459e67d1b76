"""What the overview shows, shaped for its template: rows per queue, sparklines, totals.

The numbers come from absurd_core.overview (``overview_stats``, ``throughput``,
``totals``); this module only formats them: counts in the engine's state order
(marked when they are estimates), the backlog's age in words, and the last hour's
completed and failed tasks per minute as SVG polyline points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from absurd_core.engine import TASK_STATES
from absurd_core.overview import QueueStats, Totals, overview_stats, throughput, totals
from tenants.scoping import TenantScope

SPARK_WIDTH = 120
SPARK_HEIGHT = 24
SPARK_MINUTES = 60


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


@dataclass(frozen=True)
class Overview:
    queues: list[OverviewRow]
    totals: Totals


def overview(scope: TenantScope, *, now: datetime | None = None) -> Overview:
    """Everything the overview's live part shows for ``scope``."""
    now = now or timezone.now()
    series = throughput(scope, minutes=SPARK_MINUTES, now=now)
    rows = [overview_row(s, series.get(s.name), now) for s in overview_stats(scope)]
    return Overview(rows, totals(scope))
