"""A Hugging Face cache written by hand, in the hub's layout, for download tests.

    CACHE/models--org--name/refs/main                   "<revision>"
    CACHE/models--org--name/blobs/<sha256>              the bytes
    CACHE/models--org--name/snapshots/<revision>/PATH   -> ../../blobs/<sha256> (relative link)

With ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE=CACHE``, ``hf_hub_download`` and
``try_to_load_from_cache`` resolve files from it exactly as from a real cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from vto.core.download import HubFile
from vto.core.models.base import WeightFile

REVISION = "0123456789abcdef0123456789abcdef01234567"


def content_for(file: HubFile) -> bytes:
    """Small, distinct bytes per file (so a wrong link shows)."""
    return f"{file.repo}:{file.filename}\n".encode()


def add_to_cache(cache: Path, file: HubFile, data: bytes, revision: str = REVISION) -> Path:
    """Write one file into ``cache`` the way huggingface_hub does; returns its snapshot path."""
    repo_dir = cache / f"models--{file.repo.replace('/', '--')}"
    sha = hashlib.sha256(data).hexdigest()
    blob = repo_dir / "blobs" / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    snapshot = repo_dir / "snapshots" / revision / file.filename
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if snapshot.is_symlink() or snapshot.exists():
        snapshot.unlink()
    os.symlink(os.path.relpath(blob, snapshot.parent), snapshot)
    return snapshot


def fill_cache(cache: Path, files: Iterable[WeightFile]) -> dict[str, Path]:
    """Every ``hf:`` file of ``files`` into the cache; {checkpoint path: snapshot path}."""
    placed = {}
    for weight in files:
        hub = HubFile.parse(weight.source)
        if hub is not None:
            placed[weight.path] = add_to_cache(cache, hub, content_for(hub))
    return placed
