"""Blob storage for inputs and results: the port (:mod:`.base`), one module per adapter, and
the retention janitor. ``make_storage`` picks an adapter; S3 imports boto3 only when chosen."""

from __future__ import annotations

from typing import Any

from vto.errors import InvalidInput
from vto.service.storage.base import Storage, check_key, check_prefix
from vto.service.storage.janitor import Janitor
from vto.service.storage.local import LocalStorage, write_atomic
from vto.service.storage.memory import MemoryStorage

__all__ = ["Janitor", "LocalStorage", "MemoryStorage", "Storage", "check_key", "check_prefix",
           "make_storage", "write_atomic"]


def make_storage(kind: str, **kw: Any) -> Storage:
    """``make_storage("local", root=…)``, ``make_storage("s3", bucket=…, endpoint_url=…)``
    or ``make_storage("memory")``."""
    if kind == "local":
        return LocalStorage(kw["root"])
    if kind == "s3":
        from vto.service.storage.s3 import S3Storage

        return S3Storage(**kw)
    if kind == "memory":
        return MemoryStorage(**kw)
    raise InvalidInput(f"storage must be 'local' or 's3', got {kind!r}")
