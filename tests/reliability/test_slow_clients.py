"""Slow clients against `vto serve` with 2-second read timeouts: 300 connections that never
finish their headers are all dropped within the timeout and the server's file descriptors come
back; a body 100 bytes short of its Content-Length is answered 408 and closed; a normal
request is served meanwhile."""

from __future__ import annotations

import socket
import time

from tests.reliability.conftest import open_fds

TIMEOUT_S = 2.0
SLACK_S = 3.0  # a busy machine may run the server's timers late
CLIENTS = 300


def read_until_closed(sock: socket.socket, timeout_s: float) -> bytes:
    sock.settimeout(timeout_s)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_slow_header_and_body_clients_are_dropped(serve, summary_row):
    server = serve(header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S)
    server.wait_ready()
    time.sleep(0.5)
    fds_before = open_fds(server.pid)

    clients = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
               for _ in range(CLIENTS)]
    started = time.monotonic()
    for sock in clients:
        sock.sendall(b"POST /v1/tryon HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/")
    time.sleep(0.5)
    assert open_fds(server.pid) >= fds_before + CLIENTS // 2  # the server holds them now
    with server.client(summary_row) as c:  # others are served meanwhile
        assert c.get("/health").status_code == 200
    answers = [read_until_closed(sock, TIMEOUT_S + SLACK_S + 5) for sock in clients]
    dropped_after = time.monotonic() - started
    for sock in clients:
        sock.close()
    for answer in answers:
        summary_row.record(int(answer.split(b" ", 2)[1]) if answer else 499)
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0][:200]
    assert dropped_after < TIMEOUT_S + SLACK_S, dropped_after

    deadline = time.monotonic() + 10
    while open_fds(server.pid) > fds_before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_fds(server.pid) <= fds_before + 2, (fds_before, open_fds(server.pid))

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        body = b"--b\r\nContent-Disposition: form-data; name=\"seed\"\r\n\r\n1\r\n--b--\r\n"
        sock.sendall(b"POST /v1/tryon HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n"
                     + f"Content-Length: {len(body) + 100}\r\n\r\n".encode() + body)
        started = time.monotonic()
        answer = read_until_closed(sock, TIMEOUT_S + SLACK_S + 5)
        took = time.monotonic() - started
    summary_row.record(int(answer.split(b" ", 2)[1]) if answer else 499)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert took < TIMEOUT_S + SLACK_S, took
