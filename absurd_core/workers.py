"""Reading the worker registry, tenant-scoped like every other read.

Workers are shared: one process runs every tenant's tasks, so its identity,
queues and liveness are no one tenant's secret. Its counters (in flight,
processed, failed) add up all tenants' work, though, and would tell one tenant
how busy the others are: only "all tenants" principals (platform staff, the
``workers`` command) see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from absurd_core.models import Worker
from tenants.scoping import TenantScope


@dataclass(frozen=True)
class WorkerView:
    worker_id: str
    host: str
    queues: list[str]
    concurrency: int
    status: str
    started_at: datetime
    last_seen: datetime
    #: None unless the scope is all tenants.
    in_flight: int | None
    processed: int | None
    failed: int | None


def workers_for(
    scope: TenantScope, *, include_stopped: bool = False, platform: bool = False
) -> list[WorkerView]:
    """``platform``: the principal is platform staff, who see counters whatever the scope."""
    queryset = Worker.objects.all()
    if not include_stopped:
        queryset = queryset.filter(stopped_at__isnull=True)
    counters = scope.is_all or platform
    return [
        WorkerView(
            worker_id=w.worker_id,
            host=w.host,
            queues=list(w.queues),
            concurrency=w.concurrency,
            status=w.status,
            started_at=w.started_at,
            last_seen=w.last_seen,
            in_flight=w.in_flight if counters else None,
            processed=w.processed if counters else None,
            failed=w.failed if counters else None,
        )
        for w in queryset
    ]
