"""Uploaded images: decoded under a global pixel budget, so memory stays bounded however many
requests arrive at once (each image's own pixel cap stops decompression bombs; the budget stops
many honest large images decoding together)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from vto.core.images import SERVICE_FORMATS, probe_size
from vto.errors import Unavailable


class DecodeBudget:
    """At most ``max_pixels`` pixels of uploads being decoded and held at once. A request that
    does not fit waits up to ``wait_s``, then gets 503 with Retry-After."""

    def __init__(self, max_pixels: int, wait_s: float) -> None:
        self.max_pixels = max_pixels
        self.wait_s = wait_s
        self._used = 0
        self._cond = threading.Condition()

    @property
    def in_use(self) -> int:
        return self._used

    @contextmanager
    def hold(self, *uploads: bytes | None) -> Iterator[None]:
        """Reserve the pixels of ``uploads`` (read from their headers) for the block."""
        pixels = 0
        for data in uploads:
            if data:
                width, height = probe_size(data, SERVICE_FORMATS)
                pixels += width * height
        pixels = min(pixels, self.max_pixels)  # a single request always fits eventually
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            while self._used + pixels > self.max_pixels:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    if self._used + pixels > self.max_pixels:
                        raise Unavailable("the server is decoding too many large images right "
                                          "now; retry shortly", retry_after_s=2)
            self._used += pixels
        try:
            yield
        finally:
            with self._cond:
                self._used -= pixels
                self._cond.notify_all()
