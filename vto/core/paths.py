"""Paths given by people: ``~`` and environment variables expanded, as a shell would.

The library takes paths from code, config files and quoted command-line values, where no shell
expanded them: ``TryOnEngine("~/vto-checkpoints")`` and ``open_image("$DATA/me.jpg")`` must
mean what they say. (An unset variable is left as written, so the error names it.)
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """vto's per-user cache folder: ``$XDG_CACHE_HOME/vto``, else ``~/.cache/vto``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "vto"


def default_export_dir() -> Path:
    """Where exported graphs (vto.core.models.vae_runtime) are kept: ``$VTO_EXPORT_DIR``, else
    the user cache folder's ``exports``."""
    env = os.environ.get("VTO_EXPORT_DIR")
    return expand_path(env) if env else user_cache_dir() / "exports"


def expand_path(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))
