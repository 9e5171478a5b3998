"""Who is calling: an API key (a tenant) or an admin key (the operator), from the settings.

    caller = identify(settings, presented_key)   # None: a key is required and this one is not

* ``owner`` names whose jobs and private garments a caller sees: the first 16 hex digits of
  the SHA-256 of its key, or ``""`` on a server without API keys (everyone is the same
  anonymous tenant there, as for jobs).
* ``admin`` callers presented a key from ``VTO_ADMIN_KEYS``: they may change the operator's
  garment catalog. An admin key is also a valid API key (its jobs are its own).

Keys are compared by their SHA-256 digests in constant time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    owner: str
    admin: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _match(presented_digest: str, keys: list[str]) -> str | None:
    found = None
    for key in keys:  # no early exit: the time taken does not say which key matched
        known = hash_key(key)
        if secrets.compare_digest(presented_digest, known):
            found = known
    return found


def identify(settings: Any, presented: str | None) -> Caller | None:
    """The caller behind ``presented`` (None when the server needs a key and this is none)."""
    api_keys, admin_keys = list(settings.api_keys), list(settings.admin_keys)
    digest = hash_key(presented) if presented else None
    admin = digest is not None and _match(digest, admin_keys) is not None
    if not api_keys:
        return Caller(owner="", admin=admin)
    if digest is None:
        return None
    known = _match(digest, api_keys + admin_keys)
    if known is None:
        return None
    return Caller(owner=known[:16], admin=admin)
