"""Per-client rate limiting of job submission: one token bucket per API key (or per client
address when the server has no keys).

A bucket holds up to ``burst`` tokens and refills at ``per_min`` tokens a minute; each
submission takes one. An empty bucket answers 429 (problem+json) with ``Retry-After``: the
seconds until the next token. Buckets live in this process (one API replica counts its own
clients) and are bounded: when there are too many, full ones (idle clients) are dropped, which
loses nothing since a full bucket is the state a new one starts in.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from vto.errors import RateLimited


class RateLimiter:
    """Thread-safe token buckets keyed by client id."""

    def __init__(self, per_min: float, burst: int | None = None, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_min <= 0:
            raise ValueError("per_min must be positive")
        self.rate_s = per_min / 60.0
        self.burst = float(burst if burst is not None else max(1, math.ceil(per_min)))
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until one is due."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate_s)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                if len(self._buckets) > self.max_clients:
                    self._prune(now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate_s

    def check(self, client: str) -> None:
        """:meth:`take`, raising :class:`RateLimited` when the bucket is empty."""
        wait_s = self.take(client)
        if wait_s > 0:
            raise RateLimited(f"too many submissions; at most {self.rate_s * 60:g} a minute "
                              f"(bursts of {self.burst:g})",
                              retry_after_s=max(1, math.ceil(wait_s)))

    def _prune(self, now: float) -> None:
        full = [c for c, (tokens, at) in self._buckets.items()
                if tokens + (now - at) * self.rate_s >= self.burst]
        for client in full:
            del self._buckets[client]
