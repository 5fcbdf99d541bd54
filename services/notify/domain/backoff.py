"""Retry schedule of webhook deliveries: exponential, capped, with jitter so retries do not arrive in waves."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Delay before attempt `attempt + 1` after `attempt` failures (1-based): equal jitter in [d/2, d]."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    draw: float = rand.random() if rand is not None else random.random()
    return ceiling / 2 + draw * ceiling / 2


def should_park(attempts: int, max_attempts: int) -> bool:
    return attempts >= max_attempts
