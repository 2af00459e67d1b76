"""Audited worker administration: removing a dead or stopped worker from the registry.

Workers are shared by every tenant, so only an admin acting through a platform tenant
(or a superuser) may remove one: ``PermissionDenied`` otherwise. The check of the
worker's state and the delete are one statement (``... where worker_id = %s and (stopped
or not heard of for three heartbeats)``), so a worker that came back to life in the
meantime is never removed; the audit row is written in the same transaction.

Removing forgets the registry row only: runs the worker still holds stay with the
engine, which retries them once their lease expires. A worker removed while in fact
alive would register again at its next heartbeat, which is why live ones are refused.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import connections, transaction

from absurd_core.actors import Action, Actor
from absurd_core.audit import record
from absurd_core.errors import AbsurdError
from absurd_core.models import WORKER_HEARTBEAT_SECONDS, Worker


class WorkerNotFound(AbsurdError, LookupError):
    """No worker of that id in the registry (or one an external claimer, which has none)."""


class WorkerAlive(AbsurdError, ValueError):
    """The worker is alive: it would register again at its next heartbeat."""


def require_worker_admin(principal: Actor) -> None:
    """PermissionDenied unless ``principal`` is an admin acting for the platform."""
    principal.require(Action.ADMIN)
    if not principal.platform:
        raise PermissionDenied(
            "Workers are shared by every tenant: only platform admins may remove one."
        )


def remove_worker(
    principal: Actor, worker_id: str, *, via: str | None = None, using: str = "default"
) -> None:
    """Remove ``worker_id`` from the registry if it is dead or stopped, and audit it.

    Raises PermissionDenied, WorkerNotFound, WorkerAlive; nothing changes then."""
    require_worker_admin(principal)
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                "delete from absurd_control_worker where worker_id = %s"
                " and (stopped_at is not null or last_seen < now() - make_interval(secs => %s))"
                " returning host, pid, last_seen, stopped_at is not null",
                [worker_id, 3 * WORKER_HEARTBEAT_SECONDS],
            )
            row = cursor.fetchone()
        if row is None:
            if Worker.objects.using(using).filter(worker_id=worker_id).exists():
                raise WorkerAlive(
                    f"Worker {worker_id} is alive; stop it first (it would register again)."
                )
            raise WorkerNotFound(f"No worker {worker_id} in the registry.")
        host, pid, last_seen, stopped = row
        detail = {
            "worker_id": worker_id,
            "host": host,
            "pid": pid,
            "status": "stopped" if stopped else "dead",
            "last_seen": last_seen.isoformat(),
        }
        if via:
            detail["via"] = via
        record(principal, "remove_worker", detail=detail)
