"""The ``Storage`` port: where results and uploaded inputs live, and the key rules every
adapter applies (so a key that works on one works on all).

    Storage (Protocol)      put · get · exists · delete · delete_prefix · url · list_keys
    ├── LocalStorage        a directory; the API streams the bytes itself (``url`` is None)
    ├── S3Storage           any S3-compatible store via boto3; ``url`` is a presigned GET URL
    └── MemoryStorage       a dict, for unit tests and throw-away servers

Keys are server-generated (``results/{job_id}/{n}.png``), never client file names: segments of
``[A-Za-z0-9._-]`` that do not start with a dot, joined by ``/``, at most 512 characters.
Adapters convert their own errors: a missing key is :class:`InputNotFound`, a store that
cannot be reached or refuses us is :class:`Unavailable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from vto.errors import InvalidInput

_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
MAX_KEY_LEN = 512


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid storage key, else raise InvalidInput.

    The rules exclude ``..``, absolute paths, backslashes, empty segments and hidden files, so a
    key can be mapped onto a file path without escaping the storage root.
    """
    if not isinstance(key, str) or len(key) > MAX_KEY_LEN or not _KEY.fullmatch(key):
        raise InvalidInput(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix is empty, or a key, optionally ending with ``/``."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


@runtime_checkable
class Storage(Protocol):
    """Blob storage for results and inputs. Implementations are thread-safe."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any previous value atomically."""

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises InputNotFound if there are none."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; returns how many were removed."""

    def url(self, key: str, expires_s: int) -> str | None:
        """A URL a client can GET directly for ``expires_s`` seconds, or None when the API
        must serve the bytes itself (local and memory storage)."""

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """(key, last modified as an aware UTC datetime) for every key under ``prefix``."""
