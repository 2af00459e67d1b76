"""Issue, verify and revoke API keys. Used by the admin, the commands and the API auth."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from tenants.api_scopes import validate_scopes, validate_scopes_for
from tenants.models import ApiKey, Tenant

KEY_PREFIX = "ac_"
#: ``ApiKey.last_used_at`` is kept to this precision.
LAST_USED_PRECISION = timedelta(minutes=1)


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
    validate_scopes_for(tenant, scopes or [])
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


class AuthThrottled(Exception):
    """Too many failed authentications from this source; nothing was checked."""

    def __init__(self, wait: float):
        self.wait = wait
        super().__init__(f"Retry in {wait:.0f} s.")


# The key, its tenant and, in the same round trip, the source's failure throttle
# (tenants/auth_throttle.py): a request answers its most frequent question, "who is
# this", with one query, not an ORM lookup plus a throttle query.
_LOOKUP = """
select w.wait, k.id, k.name, k.secret_hash, k.role, k.scopes, k.created_at, k.last_used_at,
       k.expires_at, k.revoked_at, t.id, t.slug, t.name, t.is_platform, t.active
  from (select coalesce(absurd_control_spawn_wait(%s, %s, %s, 1), 0) as wait) w
  left join tenants_apikey k on k.prefix = %s
  left join tenants_tenant t on t.id = k.tenant_id
"""


def _lookup(prefix: str, throttle_source: str | None) -> tuple[float, ApiKey | None]:
    from tenants.auth_throttle import FAILURE_BURST, FAILURE_RATE

    with connection.cursor() as cursor:
        cursor.execute(_LOOKUP, [throttle_source or "", FAILURE_RATE, FAILURE_BURST, prefix])
        row = cursor.fetchone()
    wait = float(row[0]) if throttle_source else 0.0
    if row[1] is None:
        return wait, None
    key_id, name, secret_hash, role, scopes, created, last_used, expires, revoked = row[1:10]
    tenant = Tenant(id=row[10], slug=row[11], name=row[12], is_platform=row[13], active=row[14])
    api_key = ApiKey(
        id=key_id, tenant=tenant, name=name, prefix=prefix, secret_hash=secret_hash, role=role,
        scopes=json.loads(scopes) if isinstance(scopes, str) else scopes, created_at=created,
        last_used_at=last_used, expires_at=expires, revoked_at=revoked,
    )  # fmt: skip
    return wait, api_key


def verify_key(key: str, *, throttle_source: str | None = None) -> ApiKey:
    """The active key for ``key``, or InvalidApiKey with a clear reason.

    With ``throttle_source``, AuthThrottled first while that source has failed too
    often (tenants/auth_throttle.py): then nothing about the key is checked.
    """
    parts = key.split("_") if key.startswith(KEY_PREFIX) else []
    prefix = parts[1] if len(parts) >= 3 else ""
    wait, api_key = _lookup(prefix, throttle_source)
    if wait > 0:
        raise AuthThrottled(wait)
    if not prefix:
        raise InvalidApiKey("Malformed API key.")
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
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        # At most one write a minute per key: a write per request would make every
        # request of one key queue on its row lock and wait for a WAL flush.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def revoke_key(api_key: ApiKey) -> bool:
    """Revoke at once (the secure default); False if it was already revoked."""
    return bool(
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
