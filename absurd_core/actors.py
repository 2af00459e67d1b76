"""Who acts, as the core sees it: the ``Action`` kinds and the ``Actor`` protocol.

The core's audited actions take an actor and never import ``tenants``;
``tenants.permissions.Principal`` satisfies the protocol, and ``tenants.permissions``
re-exports ``Action``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

from absurd_core.tenancy import TenantScope


class Action(StrEnum):
    VIEW = "view"
    OPERATE = "operate"
    ADMIN = "admin"


@runtime_checkable
class Actor(Protocol):
    """An authenticated actor: its scope, its role, and how to name it in audit fields."""

    scope: TenantScope
    role: str
    #: Who to name in audit fields: "user:ann" or "key:ci".
    label: str
    #: Acting through a platform tenant (may change what every tenant shares).
    platform: bool

    def can(self, action: Action) -> bool: ...

    def require(self, action: Action) -> None:
        """Raise PermissionDenied unless the role may ``action``."""

    def require_platform_admin(self, what: str) -> None:
        """Raise PermissionDenied unless a platform admin (queues are shared)."""
