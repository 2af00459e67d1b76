"""Issue, verify and revoke API keys. Used by the admin, the commands and the API auth."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from tenants.api_scopes import validate_scopes
from tenants.models import ApiKey, Tenant

KEY_PREFIX = "ac_"


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    #: The full key: shown once, never stored.
    key: str


class InvalidApiKey(Exception):
    """Authentication failed; the message says why without revealing any secret."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(
    tenant: Tenant,
    name: str,
    *,
    role: str = "operator",
    scopes: list[str] | None = None,
    created_by=None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    validate_scopes(scopes or [])
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        secret_hash=_digest(key),
        role=role,
        scopes=scopes or [],
        created_by=created_by,
        expires_at=expires_at,
    )
    return IssuedKey(api_key, key)


def verify_key(key: str) -> ApiKey:
    """The active key for ``key``, or InvalidApiKey with a clear reason."""
    parts = key.split("_") if key.startswith(KEY_PREFIX) else []
    if len(parts) < 3 or not parts[1]:
        raise InvalidApiKey("Malformed API key.")
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=parts[1]).first()
    # Compare even when no row matched, so timing says nothing about which prefixes exist.
    expected = api_key.secret_hash if api_key else _digest("")
    if not hmac.compare_digest(expected, _digest(key)) or api_key is None:
        raise InvalidApiKey("Unknown API key.")
    now = timezone.now()
    if api_key.revoked_at is not None:
        raise InvalidApiKey("This API key was revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise InvalidApiKey("This API key has expired.")
    if not api_key.tenant.active:
        raise InvalidApiKey("This API key's tenant is inactive.")
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def revoke_key(api_key: ApiKey) -> bool:
    """Revoke at once (the secure default); False if it was already revoked."""
    return bool(
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
