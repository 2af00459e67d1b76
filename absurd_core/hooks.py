"""Where an app above the core changes core behaviour: gates registered at start-up.

The core imports nothing of ``tenants``; ``tenants`` registers its spawn gate and its
claim admission here in ``TenantsConfig.ready()`` (the pattern of the SQL terminal-hook
registry, ``absurd_control.terminal_hook``, that approvals registers into). Each gate is
an SQL fragment the core folds into its one statement, so a spawn or a claim stays one
round trip, and the statement text the database sees is fixed once the gate is
registered (prepared statements depend on it).

- **Spawn gate**: evaluated once when the spawn statement created a task (a repeated
  idempotency key costs nothing), with the statement's ``%(tenant)s``. It refuses by
  raising an SQLSTATE; ``refused`` turns that error into the exception to raise
  (nothing was spawned). When the statement failed for another reason, the core spawns
  again without the gate inside a transaction and calls ``failed``: return to let the
  spawn stand, raise to roll it back.
- **Overview totals**: counts an app contributes to the dashboard's totals
  (``approvals_pending``), so the core's overview reads no other app's table.
- **Claim admission**: an SQL boolean over the claimed row ``c`` (its ``c.run_id`` and
  ``c.headers``) and ``%(queue)s``; a run it refuses is parked again by the same
  statement and the worker forgets it. Without one, every claimed run is admitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SpawnGate:
    #: SQL expression run when the statement created a task; raises ``refused_sqlstate``.
    sql: str
    refused_sqlstate: str
    #: (tenant, database error) -> the exception to raise instead.
    refused: Callable[[str, BaseException], Exception]
    #: (tenant, database error): the gate's storage failed; raise to roll the spawn back.
    failed: Callable[[str, BaseException], None]


@dataclass(frozen=True)
class ClaimAdmission:
    #: SQL boolean over the claimed row ``c`` and ``%(queue)s``.
    sql: str


#: Overview totals other apps contribute: name -> f(scope) -> int (approvals registers
#: "approvals_pending").
_totals: dict[str, Callable[..., int]] = {}

_spawn_gate: SpawnGate | None = None
_claim_admission: ClaimAdmission | None = None


def register_spawn_gate(gate: SpawnGate | None) -> None:
    """Install the spawn gate (one: a second registration replaces the first)."""
    global _spawn_gate
    _spawn_gate = gate


def spawn_gate() -> SpawnGate | None:
    return _spawn_gate


def register_claim_admission(admission: ClaimAdmission | None) -> None:
    """Install the claim admission (one: a second registration replaces the first)."""
    global _claim_admission
    _claim_admission = admission


def claim_admission() -> ClaimAdmission | None:
    return _claim_admission


def register_total(name: str, count: Callable[..., int]) -> None:
    """Contribute an overview total: ``count(scope)`` is the number the scope may see."""
    _totals[name] = count


def total(name: str, scope, default: int = 0) -> int:
    """The registered total ``name`` for ``scope``; ``default`` when nobody registered it."""
    count = _totals.get(name)
    return default if count is None else count(scope)
