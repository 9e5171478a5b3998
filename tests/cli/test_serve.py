"""`vto serve` checks its port and every setting before it builds the app or loads a model:
each mistake is one line and exit status 2; with none, uvicorn serves on the socket it bound."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vto.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def no_app(monkeypatch):
    """Fail the test if the app (and so the worker and its models) is ever built."""
    import vto.service.app

    def refuse(*args, **kwargs):
        raise AssertionError("create_app must not run when a setting is wrong")
    monkeypatch.setattr(vto.service.app, "create_app", refuse)
    for name in ("VTO_WIDTH", "VTO_HEIGHT", "VTO_PORT", "VTO_DEVICE", "VTO_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_args(tiny_checkpoint, tmp_path, *extra: str) -> list[str]:
    return ["serve", "--checkpoints", str(tiny_checkpoint.root), "--data-dir",
            str(tmp_path / "data"), "--host", "127.0.0.1", *extra]


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vto: error:"), lines
    return lines[0]


def test_a_taken_port_is_one_line_before_the_app_exists(no_app, taken_port, tiny_checkpoint,
                                                        tmp_path, capsys):
    assert main(serve_args(tiny_checkpoint, tmp_path, "--port", str(taken_port))) == 2
    assert f"port {taken_port} on 127.0.0.1 is already in use" in one_line(capsys)


@pytest.mark.parametrize("env, extra, message", [
    ({"VTO_WIDTH": "100"}, [], "settings do not work for model ootd-hd: working size"),
    ({}, ["--size", "100x128"], "settings do not work for model ootd-hd: working size"),
    ({}, ["--device", "gpu"], "unknown device 'gpu'"),
    ({"VTO_DTYPE": "half"}, [], "dtype must be float32, float16 or bfloat16"),
    ({}, ["--data-dir", "/proc/vto-no-such/data"], "--data-dir /proc/vto-no-such/data is not "
                                                  "writable"),
    ({}, ["--database-url", "not a url"], "is not a database URL"),
    ({}, ["--database-url", "mysql://u@h/vto"], "mysql is not supported"),
    ({}, ["--checkpoints", "/nonexistent/ck"], "is missing"),
    ({}, ["--host", "192.0.2.1"], "192.0.2.1 is not an address of this machine"),
])
def test_every_setting_is_checked_before_the_app_exists(no_app, tiny_checkpoint, tmp_path,
                                                        capsys, monkeypatch, env, extra,
                                                        message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = serve_args(tiny_checkpoint, tmp_path, "--port", str(free_port()))
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    assert message in one_line(capsys)


def test_uvicorn_serves_on_the_socket_bound_first(tiny_checkpoint, tmp_path, monkeypatch):
    import uvicorn

    import vto.service.app

    seen = {}
    monkeypatch.setattr(vto.service.app, "create_app", lambda settings: "app")

    def run(self, sockets=None):
        seen["sockets"] = sockets
        seen["app"] = self.config.app
    monkeypatch.setattr(uvicorn.Server, "run", run)
    port = free_port()
    assert main(serve_args(tiny_checkpoint, tmp_path, "--port", str(port))) == 0
    (listener,) = seen["sockets"]
    try:
        assert listener.getsockname() == ("127.0.0.1", port) and seen["app"] == "app"
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))  # held: nobody takes it while the models load
    finally:
        listener.close()


def test_a_real_process_with_a_taken_port_ends_at_once(taken_port, tiny_checkpoint, tmp_path):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "vto", *serve_args(
        tiny_checkpoint, tmp_path, "--port", str(taken_port))], capture_output=True, text=True,
        timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO),
                                    "VTO_ENGINE_FACTORY": "tests.service.fakes:slow_loading"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"vto: error: port {taken_port} on 127.0.0.1 is already in use (another vto serve?); "
        "choose another with --port or VTO_PORT"]
    assert "worker" not in proc.stdout + proc.stderr  # no worker process was started
    assert time.monotonic() - started < 60
