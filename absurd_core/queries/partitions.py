"""A partitioned queue's partitions, for the Queues page (platform staff only: sizes and
row estimates add up every tenant's tasks).

Upstream's partitioned storage mode splits t_, r_, c_ and w_ of a queue into one
partition per ISO week of the UUIDv7 ids, plus a default partition
(absurd_core/sql/partitions.sql). ``queue_partitions`` reads them as one row per week:
the tasks partition's row estimate and the size of the week's four partitions together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from absurd_core import engine
from absurd_core.errors import QueueNotFound
from absurd_core.read_routing import connections


@dataclass(frozen=True)
class PartitionWeek:
    #: The week's tag (upstream's YWW), or "default".
    tag: str
    range_from: datetime | None
    range_to: datetime | None
    #: The tasks partition's row estimate; None until ANALYZE has seen it.
    tasks: int | None
    #: Bytes of the week's partitions of every table (t_, r_, c_, w_), indexes included.
    total_bytes: int
    tables: list[str] = field(default_factory=list)

    @property
    def is_default(self) -> bool:
        return self.tag == "default"


@dataclass(frozen=True)
class PartitionInfo:
    """A queue's storage mode, its retention settings and (partitioned) its weeks."""

    queue: str
    storage_mode: str
    cleanup_ttl: timedelta
    detach_mode: str
    detach_min_age: timedelta
    partition_lookahead: timedelta
    partition_lookback: timedelta
    weeks: list[PartitionWeek] = field(default_factory=list)

    @property
    def partitioned(self) -> bool:
        return self.storage_mode == "partitioned"

    @property
    def total_bytes(self) -> int:
        return sum(week.total_bytes for week in self.weeks)


def _weeks(queue: str, using: str) -> list[PartitionWeek]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "select prefix, partition_table, is_default, range_from, range_to, row_estimate,"
            " total_bytes from absurd_control.queue_partitions(%s)",
            [queue],
        )
        rows = cursor.fetchall()
    weeks: dict[str, dict] = {}
    for prefix, table, is_default, range_from, range_to, estimate, size in rows:
        tag = "default" if is_default else table[len(prefix) + 1 + len(queue) + 1 :]
        week = weeks.setdefault(
            tag,
            {
                "range_from": range_from,
                "range_to": range_to,
                "tasks": None,
                "size": 0,
                "tables": [],
            },
        )
        week["size"] += size
        week["tables"].append(table)
        if prefix == "t":
            week["tasks"] = estimate if estimate >= 0 else None
    return [
        PartitionWeek(tag, w["range_from"], w["range_to"], w["tasks"], w["size"], w["tables"])
        for tag, w in weeks.items()
    ]


def partition_info(queue: str, *, using: str = "default") -> PartitionInfo:
    """``queue``'s storage and retention settings and, when partitioned, its weeks (oldest
    first, the default partition last). QueueNotFound if there is no such queue."""
    policy = engine.get_queue_policy(queue, using=using)
    if policy is None:
        raise QueueNotFound("No queue has that name.")
    return PartitionInfo(
        queue=queue,
        storage_mode=policy.storage_mode,
        cleanup_ttl=policy.cleanup_ttl,
        detach_mode=policy.detach_mode,
        detach_min_age=policy.detach_min_age,
        partition_lookahead=policy.partition_lookahead,
        partition_lookback=policy.partition_lookback,
        weeks=_weeks(queue, using) if policy.storage_mode == "partitioned" else [],
    )


def storage_modes(*, using: str = "default") -> dict[str, str]:
    """{queue: storage mode} for every queue: one read, for the Queues page's badges."""
    with connections[using].cursor() as cursor:
        cursor.execute("select queue_name, storage_mode from absurd.queues")
        return dict(cursor.fetchall())
