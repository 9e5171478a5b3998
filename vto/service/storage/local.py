"""``LocalStorage``: keys are files under a root directory, written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from vto.errors import InputNotFound, InvalidInput
from vto.service.storage.base import check_key, check_prefix


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
