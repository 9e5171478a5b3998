"""Paths given by people: ``~`` and environment variables expanded, as a shell would.

The library takes paths from code, config files and quoted command-line values, where no shell
expanded them: ``TryOnEngine("~/vto-checkpoints")`` and ``open_image("$DATA/me.jpg")`` must
mean what they say. (An unset variable is left as written, so the error names it.)
"""

from __future__ import annotations

import os
from pathlib import Path


def expand_path(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))
