"""The queues page's dense table (issue 19, item 9): what one row shows besides the
queue itself, every number a link (item 4).

``queue_table_row`` gives, for one queue: its counts by state, each with the runs list
filtered by the queue, the state and (for a one-tenant scope) the tenant; the last
hour's completed and failed tasks (from the event log, as the overview's sparklines)
with a link to the overview chart for the queue; and the age of the oldest pending
task, in words, linked to the queue's pending runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse

from absurd_core.queries.queues import QueueStats
from absurd_core.tenancy import TenantScope
from dashboard.links import runs_url
from dashboard.presenters import human_duration


@dataclass(frozen=True)
class LinkedCount:
    state: str
    text: str
    url: str


def queue_table_row(
    stats: QueueStats,
    last_hour: dict[str, list[int]] | None,
    scope: TenantScope,
    now: datetime,
) -> dict:
    prefix = "≈" if stats.estimated else ""
    last_hour = last_hour or {}
    completed = sum(last_hour.get("completed") or ())
    failed = sum(last_hour.get("failed") or ())
    oldest = stats.oldest_pending_at
    chart = f"{reverse('dashboard:overview')}?{urlencode({'range': '1h', 'queue': stats.name})}"
    return {
        "linked_counts": [
            LinkedCount(
                state, f"{prefix}{count:,}", runs_url(queue=stats.name, state=state, scope=scope)
            )
            for state, count in stats.state_counts
        ],
        "runs_url": runs_url(queue=stats.name, scope=scope),
        "pending_url": runs_url(queue=stats.name, state="pending", scope=scope),
        "tenant_label": "all" if scope.is_all else scope.slug,
        "hour_completed": f"{completed:,}",
        "hour_failed": f"{failed:,}",
        "chart_url": f"{chart}#charts",
        "backlog_age": human_duration(now - oldest) if oldest else "",
    }
