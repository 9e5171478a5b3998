"""``MemoryStorage``: a dict behind a lock (unit tests and throw-away servers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from vto.errors import InputNotFound
from vto.service.storage.base import check_key, check_prefix


class MemoryStorage:
    """A dict behind a lock. ``clock`` (seconds since the epoch) lets tests age objects."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._objects: dict[str, tuple[bytes, str, datetime]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        stamp = datetime.fromtimestamp(self._clock(), timezone.utc)
        with self._lock:
            self._objects[check_key(key)] = (bytes(data), content_type, stamp)

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[check_key(key)][0]
            except KeyError:
                raise InputNotFound(f"no stored object {key!r}") from None

    def content_type(self, key: str) -> str:
        with self._lock:
            try:
                return self._objects[check_key(key)][1]
            except KeyError:
                raise InputNotFound(f"no stored object {key!r}") from None

    def exists(self, key: str) -> bool:
        with self._lock:
            return check_key(key) in self._objects

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(check_key(key), None)

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        with self._lock:
            doomed = [k for k in self._objects if k.startswith(prefix)]
            for k in doomed:
                del self._objects[k]
        return len(doomed)

    def url(self, key: str, expires_s: int) -> str | None:
        check_key(key)
        return None

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        check_prefix(prefix)
        with self._lock:
            items = sorted((k, v[2]) for k, v in self._objects.items() if k.startswith(prefix))
        yield from items
