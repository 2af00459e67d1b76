"""How far a streaming read replica is behind the primary (docs/scaling.md).

The replica is behind when it has not replayed the primary's current WAL position; how far,
in time, is the primary's clock minus the commit time of the last transaction the replica
replayed (``pg_last_xact_replay_timestamp``). An idle primary writes nothing, so a replica
that has replayed everything is 0 s behind however old its last transaction is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, connections

from absurd_core.read_routing import PRIMARY, REPLICA


@dataclass(frozen=True)
class ReplicaStatus:
    reachable: bool
    #: Seconds behind the primary (0 when it has replayed everything; None: unknown).
    seconds_behind: float | None = None
    bytes_behind: int = 0
    #: Replay paused (pg_wal_replay_pause()).
    paused: bool = False
    #: Whether it has replayed the position a caller waits for (``replica_status(lsn=...)``).
    caught_up: bool = True


def replica_status(lsn: str | None = None, *, replica: str = REPLICA) -> ReplicaStatus:
    """The replica's lag; ``lsn``: a primary WAL position the caller needs replayed."""
    try:
        with connections[replica].cursor() as cursor:
            cursor.execute(
                "select pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(),"
                " case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end,"
                " coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, true)",
                [lsn],
            )
            replayed, replayed_at, paused, caught_up = cursor.fetchone()
    except DatabaseError:
        return ReplicaStatus(reachable=False, caught_up=False)
    if replayed is None:  # not a standby: nothing to be behind
        return ReplicaStatus(reachable=True, seconds_behind=0.0)
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute(
            "select pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint,"
            " extract(epoch from now() - %s::timestamptz)::float8",
            [replayed, replayed_at],
        )
        bytes_behind, seconds = cursor.fetchone()
    if bytes_behind <= 0:
        seconds = 0.0
    return ReplicaStatus(
        reachable=True,
        seconds_behind=None if seconds is None else max(seconds, 0.0),
        bytes_behind=max(bytes_behind, 0),
        paused=paused,
        caught_up=caught_up,
    )


def primary_position() -> str:
    """The primary's current WAL position: what a reader of one's own writes waits for."""
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("select pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]
