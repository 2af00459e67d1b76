"""One permission layer for views and the API: who is acting, for which tenants, with which role.

- viewers read;
- operators also retry, cancel, discard and emit events;
- admins also manage keys, members, limits and queues.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.core.exceptions import PermissionDenied

from absurd_core.actors import Action
from absurd_core.tenancy import TenantScope

__all__ = ["ROLE_ACTIONS", "ROLE_ORDER", "Action", "Principal"]


#: Narrowest first.
ROLE_ORDER = ("viewer", "operator", "admin")

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    "viewer": frozenset({Action.VIEW}),
    "operator": frozenset({Action.VIEW, Action.OPERATE}),
    "admin": frozenset({Action.VIEW, Action.OPERATE, Action.ADMIN}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated actor: a user with an active tenant, or an API key.

    It satisfies ``absurd_core.actors.Actor``, which is all the core asks of it.
    ``Action`` now lives in ``absurd_core.actors`` (re-exported here).
    """

    scope: TenantScope
    role: str
    #: Who to name in audit fields (resolved_by, created_by): "user:ann" or "key:ci".
    label: str
    #: Acting through a platform tenant (a membership or an API key of one, or a superuser
    #: acting for all tenants): with the admin role, may also change what every tenant
    #: shares (queues). Never true while acting as an ordinary tenant.
    platform: bool = False

    def __post_init__(self) -> None:
        # Tasks spawned without a tenant (absurdctl, other clients) belong to no tenant, so
        # only platform staff may see them: "all tenants" includes them already, and a
        # platform principal acting for one tenant (a platform tenant's API key) gets them
        # added to its scope here, where every principal is made.
        if self.platform and not self.scope.is_all and not self.scope.tenantless:
            object.__setattr__(self, "scope", replace(self.scope, tenantless=True))

    def can(self, action: Action) -> bool:
        return action in ROLE_ACTIONS.get(self.role, frozenset())

    def require(self, action: Action) -> None:
        if not self.can(action):
            raise PermissionDenied(f"The {self.role} role may not {action.value}.")

    def require_platform_admin(self, what: str) -> None:
        """Queues are shared by every tenant: only platform admins change them."""
        self.require(Action.ADMIN)
        if not self.platform:
            raise PermissionDenied(
                f"Queues are shared by every tenant: only platform admins may {what}."
            )
