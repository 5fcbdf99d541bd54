"""Token buckets: a burst is allowed, then one call per 1/rate seconds, and Retry-After says when."""

from __future__ import annotations

from shared.rate_limit import RateLimiter


def test_burst_then_refusal_with_retry_after() -> None:
    limiter = RateLimiter(rate=2, burst=3)

    allowed = [limiter.retry_after("key:a", now=100.0) for _ in range(3)]
    refused = limiter.retry_after("key:a", now=100.0)

    assert allowed == [0, 0, 0]
    assert refused == 1


def test_tokens_refill_with_time_and_callers_are_independent() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.retry_after("key:a", now=0.0) == 0
    assert limiter.retry_after("key:a", now=0.2) == 1
    assert limiter.retry_after("key:b", now=0.2) == 0
    assert limiter.retry_after("key:a", now=1.2) == 0


def test_slow_rate_reports_whole_seconds_to_wait() -> None:
    limiter = RateLimiter(rate=0.1, burst=1)
    limiter.retry_after("k", now=0.0)
    assert limiter.retry_after("k", now=1.0) == 9


def test_the_map_of_callers_stays_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_callers=10)
    for number in range(100):
        limiter.retry_after(f"key:{number}", now=float(number))
    assert len(limiter._buckets) <= 10
