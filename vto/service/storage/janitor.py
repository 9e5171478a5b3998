"""Retention: the janitor deletes stored objects older than the retention (and stale temp
files); the service's housekeeping runs it periodically, sparing inputs of jobs still waiting."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vto.errors import InvalidInput
from vto.service.storage.base import Storage, check_prefix

log = logging.getLogger(__name__)


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
