"""Which rows of a page show "held by a worker that stopped responding".

``dead_hold_notes(scope, tasks)``: for a page's tasks (anything with ``queue``,
``task_id`` and ``state``), the running ones whose run is held by a claimer that is not
alive (absurd_core.queries.worker_holds), each with its note in words
(dashboard.presenters.dead_hold_note). One statement, and none when the page has no
running task.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from absurd_core.queries.worker_holds import dead_holds
from absurd_core.tenancy import TenantScope
from dashboard.presenters import dead_hold_note


def dead_hold_notes(scope: TenantScope, tasks: Iterable[Any]) -> dict[UUID, str]:
    running = [(t.queue, t.task_id) for t in tasks if t.state == "running"]
    if not running:
        return {}
    return {task_id: dead_hold_note(hold) for task_id, hold in dead_holds(scope, running).items()}
