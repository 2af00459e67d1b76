"""API key scopes: an optional narrowing of what a key's role allows.

A key without scopes may call every operation its role allows. A key with
scopes may call only the operations whose scope it lists, and still only
those its role allows: a viewer key with ``approvals:decide`` cannot decide.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

#: Every scope an operation can require, with what it covers.
SCOPES: dict[str, str] = {
    "tasks:read": "read tasks, runs and their history",
    "tasks:write": "spawn, cancel and retry tasks",
    "events:write": "emit events",
    "dead_letters:write": "retry and discard dead letters",
    "approvals:read": "read approval requests",
    "approvals:decide": "decide and cancel approval requests",
    "queues:admin": "change queue policies, pause and resume queues (platform tenants only)",
}


def validate_scopes(value: object) -> None:
    """For ApiKey.scopes: a list of known scope names."""
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError("Scopes must be a list of scope names.")
    unknown = sorted(set(value) - set(SCOPES))
    if unknown:
        raise ValidationError(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(sorted(SCOPES))}."
        )


#: Scopes only a platform tenant's key may carry: an ordinary tenant's key never has platform
#: powers, so it may not look as if it had.
PLATFORM_SCOPES = frozenset({"queues:admin"})


def validate_scopes_for(tenant, scopes: list[str]) -> None:
    """For a key of ``tenant``: no platform scope unless the tenant is a platform tenant."""
    platform_only = sorted(PLATFORM_SCOPES.intersection(scopes or []))
    if platform_only and not tenant.is_platform:
        raise ValidationError(
            f"{', '.join(platform_only)} is for keys of a platform tenant; "
            f"{tenant.slug} is not one."
        )


def allows(key_scopes: list[str], scope: str) -> bool:
    return not key_scopes or scope in key_scopes
