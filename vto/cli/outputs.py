"""Paths the commands read and write: expanded like a shell would, and outputs checked writable
before anything heavy runs (one line and exit 2 instead of a traceback after the whole run).

    out = user_path("~/results")                   # '~' and $VARS expanded (also `--out=~/x`;
                                                   # expand_arg is the same as argparse type=)
    check_output_dir(out, "--out", ["0.png"])      # creates nothing; InvalidInput if unusable
    save_image(image, out / "0.png")               # OSError -> InvalidInput naming the file
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vto.errors import InvalidInput

if TYPE_CHECKING:
    from PIL import Image


def user_path(value: str | os.PathLike[str]) -> Path:
    """``~`` and ``$VAR``/``${VAR}`` expanded (the shell leaves ``--out=~/x`` and quoted
    paths alone)."""
    return Path(expand_arg(os.fspath(value)))


def expand_arg(value: str) -> str:
    """:func:`user_path` for argparse ``type=``: the flag's value stays a string."""
    return os.path.expandvars(os.path.expanduser(value))


def check_output_dir(path: Path, flag: str, files: Iterable[str] = ()) -> None:
    """Raise InvalidInput unless ``path`` is a directory we can write ``files`` into, or one
    we can create. Nothing is created or left behind."""
    if path.exists():
        if not path.is_dir():
            raise InvalidInput(f"{flag} {path} exists and is not a directory")
        _probe(path, flag, path)
        for name in files:
            target = path / name
            if target.is_dir():
                raise InvalidInput(f"{flag} {path}: {name} there is a directory, not a file")
            if target.exists() and not os.access(target, os.W_OK):
                raise InvalidInput(f"{flag} {path}: {name} there is not writable")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInput(f"{flag} {path} cannot be created: {ancestor} is not a directory")
    _probe(ancestor, flag, path)


def _probe(directory: Path, flag: str, path: Path) -> None:
    """Write (and at once remove) a file in ``directory``: the only test root cannot pass
    by its privileges alone."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        where = "" if directory == path else f" (in {directory})"
        raise InvalidInput(f"{flag} {path} is not writable{where}: {reason}") from None


def save_image(image: "Image.Image", path: Path) -> None:
    """Save, turning a late write failure (disk full, …) into one line naming the file."""
    try:
        image.save(path)
    except OSError as exc:
        raise InvalidInput(f"could not write {path}: "
                           f"{(exc.strerror or str(exc)).lower()}") from None
