"""Read timeouts of the HTTP server (vto.service.server), on raw loopback sockets against a toy
ASGI app served with the same uvicorn config as `vto serve`."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

from tests.service.conftest import free_port
from vto.service.server import server_config
from vto.service.settings import Settings

TIMEOUT_S = 1.0
SLACK_S = 3.0  # a busy CI machine may run the timer late


async def toy_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers its length; /slow answers after 2.5 s."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(2.5 * TIMEOUT_S)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture()
def server() -> Iterator[tuple[int, uvicorn.Server]]:
    settings = SimpleNamespace(host="127.0.0.1", port=free_port(), header_timeout_s=TIMEOUT_S,
                               body_timeout_s=TIMEOUT_S)
    running = uvicorn.Server(server_config(toy_app, settings, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield settings.port, running
    running.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; (data, seconds it took)."""
    started = time.monotonic()
    sock.settimeout(timeout_s)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunk for chunk in chunks), time.monotonic() - started
        chunks.append(chunk)


def read_response(sock: socket.socket) -> bytes:
    """One response of the toy app (its body is a number, its Content-Length given)."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_defaults_are_thirty_seconds(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert (settings.header_timeout_s, settings.body_timeout_s) == (30.0, 30.0)
    config = server_config(toy_app, settings)
    assert config.http.header_timeout_s == 30.0 and config.http.body_timeout_s == 30.0


def test_300_clients_with_incomplete_headers_are_dropped_and_their_fds_come_back(server):
    port, _ = server
    before = open_fds()
    clients = [connect(port) for _ in range(300)]
    started = time.monotonic()
    for sock in clients:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    answers = [read_until_closed(sock, 5 * TIMEOUT_S)[0] for sock in clients]
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT_S + SLACK_S, elapsed
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0]
    assert b"urn:vto:problem:request-timeout" in answers[0]
    for sock in clients:
        sock.close()
    deadline = time.monotonic() + 5
    while open_fds() > before + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= before + 5, (before, open_fds())


def test_a_connection_that_sends_nothing_is_closed_silently(server):
    port, _ = server
    with connect(port) as sock:
        data, took = read_until_closed(sock, 5 * TIMEOUT_S)
    assert data == b"" and took < TIMEOUT_S + SLACK_S


def test_trickled_headers_do_not_extend_the_deadline(server):
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < TIMEOUT_S + SLACK_S:
            try:
                sock.sendall(b"X-A: b\r\n")
            except OSError:
                closed = True
                break
            time.sleep(TIMEOUT_S / 5)
            sock.settimeout(0.01)
            try:
                if sock.recv(65536).startswith(b"HTTP/1.1 408"):
                    closed = True
                    break
            except socket.timeout:
                pass
        assert closed and time.monotonic() - started < TIMEOUT_S + SLACK_S


def test_a_body_100_bytes_short_is_answered_408_and_closed(server):
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1100\r\n\r\n" + b"a" * 1000)
        data, took = read_until_closed(sock, 5 * TIMEOUT_S)
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert TIMEOUT_S - 0.2 < took < TIMEOUT_S + SLACK_S


def test_a_steady_slow_body_and_a_slow_answer_are_not_cut(server):
    """The body deadline is per stall, not per body; answers are never timed."""
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        for _ in range(6):  # 6 bytes over ~2.4 timeouts, never stalling a whole one
            time.sleep(0.4 * TIMEOUT_S)
            sock.sendall(b"z")
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n6"), answer


def test_keep_alive_requests_each_get_their_own_header_deadline(server):
    port, _ = server
    with connect(port) as sock:
        for _ in range(3):
            time.sleep(0.6 * TIMEOUT_S)  # under the deadline each time, over it in total
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_the_api_process_returns_freed_images_to_the_system():
    """glibc keeps a fixed mmap threshold from then on (see return_freed_images); the reliability
    suite measures the effect (tests/reliability/test_memory.py)."""
    import platform

    from vto.service.server import return_freed_images

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert return_freed_images() is True
