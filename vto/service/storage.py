"""Where results and uploaded inputs live: a small ``Storage`` port and its adapters.

    Storage (Protocol)      put · get · exists · delete · delete_prefix · url · list_keys
    ├── LocalStorage        a directory; the API streams the bytes itself (``url`` is None)
    ├── S3Storage           any S3-compatible store via boto3; ``url`` is a presigned GET URL
    └── MemoryStorage       a dict, for unit tests and throw-away servers

Keys are server-generated (``results/{job_id}/{n}.png``), never client file names. Every
adapter applies the same key rules (:func:`check_key`), so a key that works on one works on all:
segments of ``[A-Za-z0-9._-]`` that do not start with a dot, joined by ``/``, at most 512
characters. Adapters convert their own errors: a missing key is :class:`InputNotFound`, a store
that cannot be reached or refuses us is :class:`Unavailable`.

:class:`Janitor` is the retention sweeper: it deletes stored keys older than the retention and
stale files in the service's temp directories.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vto.errors import InputNotFound, InvalidInput, Unavailable

log = logging.getLogger(__name__)

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


# --- local directory ------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it into place (``os.replace``),
    so a reader never sees half a file. The temp name starts with a dot (hidden from listings)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalStorage:
    """Keys are files under ``root``, written with :func:`write_atomic`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # Belt and braces: the key rules already forbid escaping, symlinks could still do it.
        if not path.is_relative_to(self.root):
            raise InvalidInput(f"invalid storage key {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise InputNotFound(f"no stored object {key!r}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        self._prune_dirs(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        keys = [key for key, _ in self.list_keys(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    def url(self, key: str, expires_s: int) -> str | None:
        check_key(key)
        return None

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        check_prefix(prefix)
        # Walk only the directory the prefix names (or its parent for a partial name).
        partial = prefix and not prefix.endswith("/")
        base = (self.root / prefix).parent if partial else self.root / prefix
        if not base.resolve().is_relative_to(self.root) or not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):  # our temp files and anything hidden
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:  # deleted while we walked
                    continue
                yield key, datetime.fromtimestamp(mtime, timezone.utc)

    def _prune_dirs(self, directory: Path) -> None:
        """Remove now-empty parent directories up to (not including) the root."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


# --- in memory ------------------------------------------------------------------------------

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


# --- S3 -------------------------------------------------------------------------------------

class S3Storage:
    """An S3-compatible bucket through boto3 (AWS, MinIO, R2, Ceph, moto …).

    Credentials default to boto3's chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``,
    profiles, instance roles). ``prefix`` is prepended to every key, so several deployments can
    share one bucket. Signatures are always SigV4 with path-style addressing: boto3's defaults
    produce legacy SigV2 presigned URLs and virtual-host names that MinIO setups rarely resolve.
    """

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 prefix: str = "", path_style: bool = True) -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise InvalidInput("S3 storage needs a bucket name")
        if prefix:
            check_prefix(prefix if prefix.endswith("/") else prefix + "/")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            connect_timeout=5, read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, config=config)

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Storage(s3://{self.bucket}/{self.prefix}{where})"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, exc: Exception, key: str) -> Exception:
        """Map a botocore error onto vto.errors (the one place they are converted)."""
        from botocore.exceptions import ClientError, NoCredentialsError

        where = f"s3://{self.bucket}/{self.prefix}{key}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404", "NotFound"}:
                return InputNotFound(f"no stored object {key!r}")
            if code == "NoSuchBucket":
                return Unavailable(f"S3 bucket {self.bucket!r} does not exist", retry_after_s=30)
            if code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                return Unavailable(f"S3 refused access to {where} ({code})", retry_after_s=30)
            return Unavailable(f"S3 error on {where}: {code or exc}", retry_after_s=10)
        if isinstance(exc, NoCredentialsError):
            return Unavailable("no S3 credentials configured (set AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY)", retry_after_s=30)
        return Unavailable(f"cannot reach S3 for {where}: {exc}", retry_after_s=10)

    def _call(self, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call(key, self._client.put_object, Bucket=self.bucket, Key=self._full(key),
                   Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        response = self._call(key, self._client.get_object, Bucket=self.bucket,
                              Key=self._full(key))
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._call(key, self._client.head_object, Bucket=self.bucket, Key=self._full(key))
        except InputNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call(key, self._client.delete_object, Bucket=self.bucket, Key=self._full(key))

    def delete_prefix(self, prefix: str) -> int:
        keys = [key for key, _ in self.list_keys(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self.prefix + k} for k in keys[start:start + 1000]]
            self._call(prefix, self._client.delete_objects, Bucket=self.bucket,
                       Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def url(self, key: str, expires_s: int) -> str | None:
        return self._call(key, self._client.generate_presigned_url, ClientMethod="get_object",
                          Params={"Bucket": self.bucket, "Key": self._full(key)},
                          ExpiresIn=int(expires_s))

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        check_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages = self._call(prefix, lambda: iter(paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)))
        while True:
            page = self._call(prefix, lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix):], item["LastModified"].astimezone(timezone.utc)

    def check(self) -> None:
        """Raise Unavailable unless the bucket exists and we may use it (for /ready)."""
        try:
            self._call("", self._client.head_bucket, Bucket=self.bucket)
        except InputNotFound:  # HEAD answers a bare 404, which _error reads as a missing key
            raise Unavailable(f"S3 bucket {self.bucket!r} does not exist", retry_after_s=30) from None


def make_storage(kind: str, **kw: Any) -> Storage:
    """``make_storage("local", root=…)``, ``make_storage("s3", bucket=…, endpoint_url=…)``
    or ``make_storage("memory")``."""
    if kind == "local":
        return LocalStorage(kw["root"])
    if kind == "s3":
        return S3Storage(**kw)
    if kind == "memory":
        return MemoryStorage(**kw)
    raise InvalidInput(f"storage must be 'local' or 's3', got {kind!r}")


# --- retention ------------------------------------------------------------------------------

class Janitor:
    """Deletes stored objects under ``prefixes`` older than ``retention_s`` and files in
    ``temp_dirs`` older than ``temp_max_age_s`` (defaults to one hour; uploads being processed
    are younger than that). ``sweep`` is idempotent and safe to run while jobs are writing:
    an object is judged by its own last-modified time only."""

    def __init__(self, storage: Storage, retention_s: float, temp_dirs: Iterable[Path | str] = (),
                 *, prefixes: Iterable[str] = ("results/", "inputs/"),
                 temp_max_age_s: float = 3600.0) -> None:
        if retention_s <= 0:
            raise InvalidInput(f"retention must be positive, got {retention_s}")
        self.storage = storage
        self.retention_s = float(retention_s)
        self.temp_dirs = [Path(d) for d in temp_dirs]
        self.prefixes = [check_prefix(p) for p in prefixes]
        self.temp_max_age_s = float(temp_max_age_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, now: datetime | float | None = None,
              keep: Callable[[str], bool] | None = None) -> int:
        """Delete what has expired at ``now`` (default: the current time), except the keys for
        which ``keep`` is true (e.g. inputs of a job still waiting); returns the count."""
        if now is None:
            now_ts = time.time()
        elif isinstance(now, datetime):
            now_ts = now.timestamp()
        else:
            now_ts = float(now)
        cutoff = datetime.fromtimestamp(now_ts, timezone.utc) - timedelta(seconds=self.retention_s)
        removed = 0
        for prefix in self.prefixes:
            expired = [key for key, modified in self.storage.list_keys(prefix)
                       if modified < cutoff and not (keep is not None and keep(key))]
            for key in expired:
                self.storage.delete(key)
            removed += len(expired)
        for directory in self.temp_dirs:
            removed += self._sweep_dir(directory, now_ts - self.temp_max_age_s)
        if removed:
            log.info("janitor removed %d expired objects/files", removed)
        return removed

    @staticmethod
    def _sweep_dir(directory: Path, cutoff_ts: float) -> int:
        removed = 0
        if not directory.is_dir():
            return 0
        for dirpath, dirnames, filenames in os.walk(directory, topdown=False):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    if path.lstat().st_mtime < cutoff_ts:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
            for name in dirnames:  # empty sub-directories left behind by crashed jobs
                try:
                    (Path(dirpath) / name).rmdir()
                except OSError:
                    pass
        return removed

    def start(self, interval_s: float = 600.0) -> threading.Thread:
        """Sweep every ``interval_s`` seconds in a daemon thread until :meth:`stop`."""
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.sweep()
                except Exception:  # a failing sweep must not kill the thread; retried next time
                    log.exception("retention sweep failed")

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="vto-janitor", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
