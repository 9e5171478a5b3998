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


class FakeHub:
    """A loopback HTTP server that answers like the Hub's ``resolve`` endpoint (HEAD with the
    commit, LFS etag and size headers; GET with Range support), for real ``hf_hub_download``
    runs. ``requests`` records (method, path, Range header)."""

    def __init__(self, files: dict[tuple[str, str], bytes], cut_first_get_at: int | None = None,
                 ) -> None:
        """``cut_first_get_at``: the first GET of each file closes the connection after that
        many bytes (a dropped connection)."""
        import http.server
        import threading

        self.files = files
        self.cut_first_get_at = cut_first_get_at
        self.requests: list[tuple[str, str, str | None]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                parts = self.path.split("?")[0].lstrip("/").split("/", 4)
                if self.path.startswith("/api/"):
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = None
                if len(parts) == 5 and parts[2] == "resolve":
                    data = hub.files.get((f"{parts[0]}/{parts[1]}", parts[4]))
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", REVISION)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                first = sum(1 for r in hub.requests if r[:2] == ("GET", self.path)) == 1
                if hub.cut_first_get_at is not None and first:
                    self.wfile.write(data[start:start + hub.cut_first_get_at])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the rest never comes
                    return
                self.wfile.write(data[start:])

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
