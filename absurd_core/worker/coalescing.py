"""When the claim loop claims: at once for an idle thread, in batches under load.

Every claim statement has a fixed cost in the engine (the cancellation scan, the
expired-lease sweep, the candidate query; then our pause gate, tenant admission
and checkpoint load), whether it returns one run or eight. Under load each
finished task frees one slot and wakes the claim loop; claiming at every wake-up
made claims of about 1.5 runs (0.64 claims per task with ``--batch 4``).

The local buffer (one claimed run per thread, docs/worker.md) is what makes
waiting harmless: while it holds a run, a thread that finishes takes that run and
does not wait for a claim. So:

- the buffer is empty (a thread is idle or about to be; an idle worker is always
  here): claim now, so enqueue -> start latency does not change;
- a whole batch is free: claim now;
- otherwise wait for more finishes, at most ``COALESCE_SECONDS`` after the first
  free slot was seen, then claim what is free.
"""

from __future__ import annotations

#: The longest a free slot waits for others while the buffer still feeds the threads.
COALESCE_SECONDS = 0.2


def claim_now(free: int, buffered: int, batch: int) -> bool:
    """Whether the claim loop should claim at once (see the module docstring)."""
    return free > 0 and (buffered == 0 or free >= batch)
