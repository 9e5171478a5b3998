"""Per-client rate limiting of submissions (try-ons and garment uploads), on the `limits` library.

Each client (API key, or address when the server has no keys) may make ``per_min`` submissions
a minute, in bursts of up to ``burst``: a moving window of ``burst`` hits per
``burst / per_min`` minutes. The counters live in Redis when one is configured — so several
API replicas share them — and in this process otherwise. Over the limit: 429 (problem+json)
with ``Retry-After``. If the counter store cannot be reached, submissions are let through (a
broken limiter must not take the service down) and the failure is logged.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from vto.errors import RateLimited

log = logging.getLogger(__name__)

NAMESPACE = "vto-submit"


class RateLimiter:
    def __init__(self, per_min: float, burst: int | None = None, *,
                 storage_uri: str = "memory://") -> None:
        if per_min <= 0:
            raise ValueError("per_min must be positive")
        self.per_min = per_min
        self.burst = int(burst if burst is not None else max(1, math.ceil(per_min)))
        window_s = max(1, math.ceil(self.burst * 60.0 / per_min))
        self.item = RateLimitItemPerSecond(self.burst, window_s)
        self.storage_uri = storage_uri
        self.storage = storage_from_string(storage_uri)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def check(self, client: str) -> None:
        """Count one submission for ``client``; RateLimited when over the limit."""
        try:
            if self.limiter.hit(self.item, NAMESPACE, client):
                return
            reset_at = self.limiter.get_window_stats(self.item, NAMESPACE, client).reset_time
        except Exception as exc:  # noqa: BLE001 - the store is away: fail open, loudly
            log.warning("rate limiter store %s unavailable (%s); not limiting",
                        self.storage_uri.split("@")[-1], type(exc).__name__)
            return
        raise RateLimited(f"too many submissions; at most {self.per_min:g} a minute (bursts of "
                          f"{self.burst})", retry_after_s=max(1, math.ceil(reset_at - time.time())))
