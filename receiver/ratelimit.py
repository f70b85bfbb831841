"""Per-client token buckets (the RUM endpoint's rate limit).

``RateLimiter(rate_per_s, burst).allow(key)`` returns ``None`` when ``key`` may send now (a token is
taken) or the seconds until it may. Keys are evicted least-recently-used beyond ``max_keys``, so a
flood of spoofed keys costs bounded memory. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """``burst`` requests at once per key, refilled at ``rate_per_s``."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Configure the buckets."""
        self.rate, self.burst, self.max_keys, self.clock = rate_per_s, burst, max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key: str) -> float | None:
        """Take a token for ``key``; None if allowed, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = None if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if wait is None else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait
