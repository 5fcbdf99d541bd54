"""Token buckets per API key: pure arithmetic over a clock the caller passes in."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Spend one token; return 0 when allowed, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per caller; idle buckets are forgotten so the map cannot grow without bound."""

    def __init__(self, rate: float, burst: int, max_callers: int = 10_000) -> None:
        self._rate, self._burst, self._max = rate, float(burst), max_callers
        self._buckets: dict[str, TokenBucket] = {}

    def retry_after(self, caller: str, now: float) -> int:
        """0 when the call may proceed, else whole seconds to wait (at least 1), for Retry-After."""
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._forget_full(now)
            bucket = self._buckets[caller] = TokenBucket(self._rate, self._burst, self._burst, now)
        wait = bucket.take(now)
        return 0 if wait == 0 else max(1, math.ceil(wait))

    def _forget_full(self, now: float) -> None:
        full_after = self._burst / self._rate
        for caller in [c for c, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[caller]
        if len(self._buckets) >= self._max:
            self._buckets.clear()
