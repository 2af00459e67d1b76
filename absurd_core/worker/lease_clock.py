"""How long this process knows its lease on a run to be valid, by the monotonic clock.

A run's lease (``claim_expires_at``) is set by the engine to the server's clock at
the time of the statement plus the claim timeout, by ``claim_task``, by
``extend_claim`` (heartbeats, the lease keeper) and by ``set_task_checkpoint_state``
(every step, which extends by the claim timeout). Each of those statements is sent
after ``renewed_from`` is read from the local monotonic clock, so the lease ends no
earlier than ``renewed_from + timeout`` (both clocks measure seconds; over one lease
they drift by far less than the margin).

While the lease is held, no other run of the task can exist: the engine makes the
next attempt only when this run fails (its lease expired and a ``claim_task`` swept
it, or someone failed it), and ``set_task_checkpoint_state`` refuses writes from a
failed run (AB002) or a cancelled task (AB001). So every checkpoint of the task is
either one the claim loaded or one this run wrote itself (and cached): a look-up of
a checkpoint the cache lacks can only find nothing. ``held()`` answers whether that
premise is known to hold now, with a safety margin; docs/worker.md has the proof.
"""

from __future__ import annotations

import threading
import time

#: Only this share of the lease counts (covers clock-rate differences with a large margin).
LEASE_SHARE = 0.8
#: And minus this many seconds (scheduling delays between the check and the statement).
LEASE_MARGIN_SECONDS = 0.5


class LeaseClock:
    """Monotonic time of the last claim or extension of one run by this process."""

    __slots__ = ("_lock", "lost", "renewed_from", "timeout")

    def __init__(self, timeout: float, renewed_from: float | None = None):
        self.timeout = float(timeout)
        self.renewed_from = time.monotonic() if renewed_from is None else renewed_from
        self.lost = False
        self._lock = threading.Lock()

    def renewed(self, sent_at: float, seconds: float | None = None) -> None:
        """A claim or extension sent at ``sent_at`` (monotonic) succeeded."""
        with self._lock:
            if seconds is not None and seconds != self.timeout:
                # extend_claim by another length (ctx.heartbeat(seconds)) replaces the
                # lease's end, shorter or longer: the last such extension decides.
                self.renewed_from = sent_at + self._window(seconds) - self._window(self.timeout)
                return
            self.renewed_from = max(self.renewed_from, sent_at)

    def mark_lost(self) -> None:
        """The engine refused an extension: the lease is gone for good."""
        self.lost = True

    def valid_until(self) -> float:
        return self.renewed_from + self._window(self.timeout)

    def held(self, now: float | None = None) -> bool:
        """True while the lease is known to be valid (with the margin)."""
        if self.lost:
            return False
        return (time.monotonic() if now is None else now) < self.valid_until()

    @staticmethod
    def _window(seconds: float) -> float:
        return seconds * LEASE_SHARE - LEASE_MARGIN_SECONDS
