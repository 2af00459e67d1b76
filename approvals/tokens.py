"""Approval link secrets: 256 random bits, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets

# token_urlsafe(32): 43 characters of [A-Za-z0-9_-].
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> tuple[str, str]:
    """A fresh secret and its hash."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def looks_valid(raw: str) -> bool:
    """Cheap shape check before any lookup: forged or truncated links stop here."""
    return bool(TOKEN_RE.match(raw or ""))
