"""The HTTP server of `vto serve`: uvicorn, with the read timeouts uvicorn lacks.

uvicorn closes idle keep-alive connections but never times out a client that is still sending:
a connection whose request headers never finish, or whose body stops arriving before its
Content-Length, is held forever (a handful of sockets per second starves the file descriptors).
:func:`guarded_protocol` wraps uvicorn's HTTP/1.1 protocol class with two deadlines per
connection:

* **headers** — a request's headers must be complete within ``header_timeout_s`` of the
  connection opening (or of the previous response on a kept-alive connection); the deadline is
  absolute, so trickling a byte at a time does not extend it;
* **body** — while the application waits for more of a request body, the client must send
  something at least every ``body_timeout_s`` (not counted while the server itself has paused
  reading: that wait is ours, not the client's).

A client past either deadline gets ``408 Request Timeout`` (problem+json, ``Connection:
close``) where a response can still be written, and its connection is closed; the application
sees an ordinary client disconnect. Responses (SSE streams, long ``Prefer: wait``) are never
timed: only reading from the client is.

:func:`server_config` is the one place `vto serve` and the test servers build uvicorn's config
(and where the API process's allocator is told to return freed images: :func:`return_freed_images`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import uvicorn

from vto.errors import PROBLEM_BASE

log = logging.getLogger(__name__)


def _timeout_response(kind: str, seconds: float) -> bytes:
    body = json.dumps({"type": PROBLEM_BASE + "request-timeout", "title": "Request Timeout",
                       "status": 408, "detail": f"the request {kind} did not arrive within "
                                                f"{seconds:g} s"}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)


class ReadTimeoutsMixin:
    """Header and body read deadlines for a uvicorn HTTP/1.1 protocol class (h11 or httptools:
    both keep the request in ``self.cycle`` with ``more_body``/``response_complete`` and
    back-pressure in ``self.flow``)."""

    header_timeout_s: float = 30.0
    body_timeout_s: float = 30.0

    transport: asyncio.Transport
    cycle: Any
    flow: Any
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        now = self.loop.time()
        self._awaiting_since = now      # when the current request's headers became due
        self._last_read = now
        self._received = False          # bytes of the next request seen (say 408, not silence)
        self._timer: asyncio.TimerHandle | None = None
        self._arm(self.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        self._received = True
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        self._awaiting_since = self.loop.time()
        self._received = False
        super().on_response_complete()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    # --- the deadline ------------------------------------------------------------------------
    def _arm(self, delay_s: float) -> None:
        self._timer = self.loop.call_later(max(0.05, delay_s), self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # waiting for a request's headers
            left = self._awaiting_since + self.header_timeout_s - now
            if left <= 0:
                self._drop("headers", self.header_timeout_s, respond=self._received)
                return
        elif cycle.more_body and not cycle.disconnected and not self.flow.read_paused:
            left = self._last_read + self.body_timeout_s - now
            if left <= 0:
                self._drop("body", self.body_timeout_s,
                           respond=not getattr(cycle, "response_started", True))
                return
        else:  # the application is working or answering: nothing is due from the client
            left = min(self.header_timeout_s, self.body_timeout_s)
        self._arm(left)

    def _drop(self, kind: str, seconds: float, *, respond: bool) -> None:
        client = getattr(self, "client", None)
        log.info("closing a connection from %s: request %s not received within %g s",
                 f"{client[0]}:{client[1]}" if client else "?", kind, seconds)
        if respond:
            self.transport.write(_timeout_response(kind, seconds))
        self.transport.close()


def guarded_protocol(header_timeout_s: float, body_timeout_s: float,
                     base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (``base``, default: what ``http="auto"`` picks) with
    the read deadlines of :class:`ReadTimeoutsMixin`."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    return type(f"ReadTimeouts{base.__name__}", (ReadTimeoutsMixin, base),
                {"header_timeout_s": float(header_timeout_s),
                 "body_timeout_s": float(body_timeout_s)})


# Allocations of at least this many bytes get pages of their own, returned on free.
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def return_freed_images() -> bool:
    """Make glibc give decoded images' memory back to the system when they are freed.

    glibc raises its mmap threshold after large blocks are freed (up to 32 MB), after which
    image-sized blocks come from per-thread heaps that keep them: every request thread then
    holds the peak of the largest images it ever decoded, and the process grows with the
    number of threads rather than the decode budget. A fixed threshold stops that. No-op (False)
    where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


def server_config(app: Any, settings: Any, **overrides: Any) -> uvicorn.Config:
    """uvicorn's config for ``app`` under ``settings`` (host, port, read timeouts); keyword
    arguments override uvicorn options (tests: port, log level). Also fixes the process's
    allocator policy for large blocks (:func:`return_freed_images`)."""
    return_freed_images()
    options: dict[str, Any] = dict(
        host=settings.host, port=settings.port, log_level="info", proxy_headers=False,
        timeout_graceful_shutdown=10,
        http=guarded_protocol(settings.header_timeout_s, settings.body_timeout_s))
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(app: Any, settings: Any, sockets: list[Any] | None = None) -> None:
    """Run ``app`` until interrupted (``vto serve``), on ``sockets`` when given (a port bound
    before the models load)."""
    uvicorn.Server(server_config(app, settings)).run(sockets=sockets)
