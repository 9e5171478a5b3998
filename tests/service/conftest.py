"""Service test helpers: a real uvicorn server on a free loopback port, and image payloads.

The engine is the real TryOnEngine on the session's tiny checkpoint. Tiny random weights find
no person, so the shared engine gets an injected ``keypoint_source`` (a fixed standing pose;
parsing, masks and framing stay real) and v1 tests mostly send a user ``mask``. The subprocess
tests run `vto serve`'s default engine, whose real pose detector finds nobody (422).
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from vto.service.app import create_app
from vto.service.settings import Settings

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


def make_settings(tmp_path: Any, checkpoint: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(checkpoints=str(getattr(checkpoint, "root", checkpoint)),
                                  data_dir=tmp_path / "data", device="cpu", width=W, height=H,
                                  default_steps=2, preload_models=["hd"], poll_s=0.1,
                                  prefer_wait_max_s=30, sync_timeout_s=60,
                                  webhook_allow_private=True, webhook_backoff_s=0.05)
    values.update(overrides)
    return Settings(**values)


class SlowEngine:
    """The real engine, slowed down after every denoising step (a slow device)."""

    def __init__(self, engine: Any, step_delay_s: float) -> None:
        self.engine = engine
        self.step_delay_s = step_delay_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def run(self, request: Any, callback: Any = None) -> Any:
        def slow(step: int, total: int) -> None:
            time.sleep(self.step_delay_s)
            if callback is not None:
                callback(step, total)
        return self.engine.run(request, callback=slow)


@dataclass
class RunningServer:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def state(self) -> Any:
        return self.app.state.vto

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


def start_server(settings: Settings, engine: Any = None, **kw: Any) -> RunningServer:
    app = create_app(settings, engine, **kw)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
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


# An upright person in the 384x512 pose frame (OpenPose COCO-18 order).
POSE = [(192, 80), (192, 130), (140, 135), (125, 210), (120, 280), (244, 135), (259, 210),
        (264, 280), (165, 280), (165, 380), (165, 480), (219, 280), (219, 380), (219, 480),
        (182, 70), (202, 70), (170, 75), (214, 75)]


def fixed_pose(image: Image.Image) -> list:
    """Keypoint source for tiny random weights (which find nobody): one standing person."""
    from vto.core.preprocess.openpose import Person

    return [Person(keypoints=[(float(x), float(y)) for x, y in POSE], part_scores=[0.9] * 18,
                   score=16.2, n_parts=18)]


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoint: Any) -> Any:
    """One real engine on the tiny checkpoint, shared (models load once per session). Its pose
    source is injected (tiny weights find no person); human parsing and masks are real."""
    from vto.core.tryon import TryOnEngine

    engine = TryOnEngine(tiny_checkpoint, device="cpu", keypoint_source=fixed_pose)
    engine.load("hd")
    return engine


@pytest.fixture()
def server(tmp_path: Any, tiny_checkpoint: Any, tiny_engine: Any) -> Iterator[RunningServer]:
    running = start_server(make_settings(tmp_path, tiny_checkpoint), tiny_engine)
    running.wait_ready()
    yield running
    running.stop()
