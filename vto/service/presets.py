"""Preset person photos for the Flask dialect's ``modelSelection``: a folder, indexed by id.

An id is a file stem matching ``^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$``; requests are looked up in
the index (rebuilt when the folder changes), never joined into a path.
"""

from __future__ import annotations

import re
from pathlib import Path

from vto.errors import InputNotFound

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class Presets:
    def __init__(self, root: Path) -> None:
        self.root = root

    def index(self) -> dict[str, Path]:
        if not self.root.is_dir():
            return {}
        return {p.stem: p for p in sorted(self.root.iterdir())
                if p.is_file() and p.suffix.lower() in _SUFFIXES and _ID.fullmatch(p.stem)}

    def ids(self) -> list[str]:
        return list(self.index())

    def read(self, preset_id: str) -> bytes:
        path = self.index().get(preset_id) if _ID.fullmatch(preset_id or "") else None
        if path is None:
            raise InputNotFound(f"no preset person {preset_id!r} (available: "
                                f"{', '.join(self.ids()) or 'none'})")
        return path.read_bytes()
