"""Service test helpers: a real uvicorn server on a free loopback port, and image payloads.

The server runs its worker in a spawned process, as in production. Most tests give it a fake
engine (tests/service/fakes.py, one per situation); ``tiny_server`` runs the real engine on
the session's tiny checkpoint (with a fixed standing pose: tiny random weights find nobody;
parsing, masks, framing and the diffusion stay real). The subprocess tests run `vto serve`'s
default engine, whose real pose detector finds nobody (422).
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from vto.service.app import create_app
from vto.service.server import server_config
from vto.service.settings import Settings
from vto.service.webhooks import WebhookSender

W, H = 96, 128


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(size: tuple[int, int] = (W, H), color: Any = (200, 120, 80), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


def mask_png(size: tuple[int, int] = (W, H)) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    return buf.getvalue()


def tryon_files(person: bytes | None = None, garment: bytes | None = None,
                mask: bytes | None = None) -> dict[str, tuple[str, bytes, str]]:
    return {"person_image": ("person.png", person or png(), "image/png"),
            "garment_image": ("garment.png", garment or png(color=(20, 40, 220)), "image/png"),
            "mask": ("mask.png", mask or mask_png(), "image/png")}


class RecordingTransport(httpx.BaseTransport):
    """Answers every webhook delivery 204 and keeps it: nothing leaves the process."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


def offline_webhooks(secret: str = "whsec_" + "A" * 32) -> WebhookSender:
    """A webhook sender that can reach nothing: host names "resolve" to a documentation address
    (TEST-NET-3) without DNS, and deliveries go to a RecordingTransport. For servers fed
    generated URLs (property-based tests), so no request can leave loopback even if the SSRF
    check regressed."""
    return WebhookSender(secret, allow_private=True, resolve=lambda host: ["203.0.113.7"],
                         transport=RecordingTransport())


def make_settings(tmp_path: Any, checkpoint: Any, **overrides: Any) -> Settings:
    root = checkpoint if isinstance(checkpoint, (str, Path)) else checkpoint.root  # CheckpointDir
    values: dict[str, Any] = dict(checkpoints=str(root),
                                  data_dir=tmp_path / "data", device="cpu", width=W, height=H,
                                  default_steps=2, preload_models=["ootd-hd"], poll_s=0.1,
                                  prefer_wait_max_s=30, sync_timeout_s=60,
                                  webhook_allow_private=True, webhook_backoff_s=0.05,
                                  engine_factory="tests.service.fakes:fake")
    values.update(overrides)
    return Settings(**values)


@dataclass
class RunningServer:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def services(self) -> Any:
        return self.app.state.services

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kw)

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        with self.client() as c:
            while time.monotonic() < deadline:
                if c.get("/ready").status_code == 200:
                    return
                time.sleep(0.05)
        raise AssertionError("server never became ready")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def start_server(settings: Settings, **kw: Any) -> RunningServer:
    app = create_app(settings, **kw)
    port = free_port()
    # The same uvicorn config as `vto serve` (read timeouts included), on a loopback port.
    config = server_config(app, settings, host="127.0.0.1", port=port, log_level="warning",
                           timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    return RunningServer(f"http://127.0.0.1:{port}", app, server, thread)


def wait_ready(client: httpx.Client, process: Any, describe: Any, timeout_s: float = 90) -> None:
    """Poll GET /ready of a server running in ``process`` (a Popen) until it answers 200.

    ``describe()`` gives the text to fail with (e.g. the tail of the server's log) when the
    process dies or the time runs out; it must not block.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, describe()
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready\n" + describe())


def wait_for(client: httpx.Client, job_id: str, timeout_s: float = 60,
             statuses: tuple[str, ...] = ("succeeded", "failed", "canceled")) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


from tests.service.fakes import POSE, fixed_pose  # noqa: E402,F401 - re-exported for tests


@pytest.fixture()
def server(tmp_path: Any, tiny_checkpoint: Any) -> Iterator[RunningServer]:
    """A server whose worker runs the fake engine."""
    running = start_server(make_settings(tmp_path, tiny_checkpoint))
    running.wait_ready()
    yield running
    running.stop()


@pytest.fixture()
def tiny_server(tmp_path: Any, tiny_checkpoint: Any) -> Iterator[RunningServer]:
    """A server whose worker runs the real engine on the tiny checkpoint."""
    running = start_server(make_settings(tmp_path, tiny_checkpoint,
                                         engine_factory="tests.service.fakes:tiny"))
    running.wait_ready(120)
    yield running
    running.stop()


def offline_image_fetcher() -> Any:
    """An image fetcher for JSON requests that can reach nothing: host names "resolve" to a
    documentation address without DNS and every URL answers a valid 96x128 photo (a white
    rectangle on dark, so it also serves as a mask)."""
    from vto.service.image_urls import ImageFetcher

    from PIL import ImageDraw

    image = Image.new("RGB", (W, H), (40, 20, 40))
    ImageDraw.Draw(image).rectangle((20, 30, 70, 100), fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    photo = buffer.getvalue()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=photo, headers={"content-type": "image/png"})

    return ImageFetcher(allow_private=True, timeout_s=5, max_bytes=25 * 2**20,
                        resolve=lambda host: ["203.0.113.7"], transport=httpx.MockTransport(answer))
