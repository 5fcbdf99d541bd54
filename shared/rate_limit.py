"""Rate limits of every service: per API key, per client address, and for failed authentication.

`RateLimiter` is token buckets, pure arithmetic over a clock the caller passes in. `RateLimitMiddleware`
(pure ASGI, installed by `shared.http_observability.instrument` on every service) applies three of them
before any route runs, so a flood never reaches a handler or the database:

* per client address: every request and WebSocket connect;
* per API key: the key id read from the presented credential (`X-API-Key`, `Authorization: Bearer`, a
  `grid.api-key.` WebSocket subprotocol, `?api_key=`), checked or not: guessing is throttled too;
* failed authentication per client address: each answer 401 (or carrying `WWW-Authenticate`, or a
  WebSocket refused with 4401) takes a token; when they are spent every request of that address is
  refused until they refill, so 300 wrong keys are a few 401s and then 429s.

A refusal is `429` problem+json with `Retry-After` (seconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problem_details import problem_response


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

    def blocked_for(self, caller: str, now: float) -> int:
        """Whole seconds until `caller` has a token again, without spending one (0: not blocked)."""
        bucket = self._buckets.get(caller)
        if bucket is None:
            return 0
        tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self._rate))

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


@dataclass(frozen=True)
class RateLimits:
    per_key_per_second: float = 100.0
    key_burst: int = 200
    per_address_per_second: float = 200.0
    address_burst: int = 400
    auth_failures_per_minute: float = 10.0
    auth_failure_burst: int = 20


EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapers share an address
KEY_PREFIX = "gsp_"
KEY_ID_LENGTH = 16
AUTH_FAILED_CLOSE = 4401  # notify refuses a WebSocket with 4000 + the HTTP status
# (status, detail, Retry-After, scope) -> the response; services with another error shape pass their own.
Render = Callable[[int, str, int, Scope], Response]


def problem_429(status: int, detail: str, retry_after: int, scope: Scope) -> Response:
    return problem_response(
        status, "Too many requests", detail, code="rate-limited", headers={"Retry-After": str(retry_after)}
    )


def presented_key_id(scope: Scope) -> str | None:
    """The key id of the credential a request presents, read without checking it."""
    candidates: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            candidates.append(value.decode("latin-1"))
        elif name == b"authorization":
            candidates.append(value.decode("latin-1").partition(" ")[2].strip())
        elif name == b"sec-websocket-protocol":
            for protocol in value.decode("latin-1").split(","):
                candidates.append(protocol.strip().removeprefix("grid.api-key."))
    query = scope.get("query_string", b"")
    if b"api_key=" in query:
        candidates += parse_qs(query.decode("latin-1")).get("api_key", [])
    for candidate in candidates:
        if candidate.startswith(KEY_PREFIX) and candidate[len(KEY_PREFIX) + KEY_ID_LENGTH :].startswith("_"):
            return candidate[len(KEY_PREFIX) : len(KEY_PREFIX) + KEY_ID_LENGTH]
    return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: RateLimits | None = None, render: Render = problem_429) -> None:
        self.app = app
        self.render = render
        limits = limits or RateLimits()
        self.per_address = RateLimiter(limits.per_address_per_second, limits.address_burst)
        self.per_key = RateLimiter(limits.per_key_per_second, limits.key_burst)
        self.failures = RateLimiter(limits.auth_failures_per_minute / 60, limits.auth_failure_burst)

    def refusal(self, scope: Scope, address: str, now: float) -> tuple[str, int] | None:
        blocked = self.failures.blocked_for(address, now)
        if blocked:
            return "too many failed authentications from this address", blocked
        wait = self.per_address.retry_after(address, now)
        if wait:
            return "too many requests from this address", wait
        key_id = presented_key_id(scope)
        if key_id is not None:
            wait = self.per_key.retry_after(key_id, now)
            if wait:
                return "too many requests with this API key", wait
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        refused = self.refusal(scope, address, time.monotonic())
        if refused is not None:
            detail, retry_after = refused
            await self.refuse(scope, receive, send, detail, retry_after)
            return

        async def watch(message: Message) -> None:
            if is_auth_failure(message):
                self.failures.retry_after(address, time.monotonic())
            await send(message)

        await self.app(scope, receive, watch)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, detail: str, retry_after: int) -> None:
        response = self.render(429, detail, retry_after, scope)
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        # A WebSocket handshake: answer the 429 itself where the server can, else refuse the upgrade.
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 429, "headers": response.raw_headers})
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1013, "reason": detail})


def is_auth_failure(message: Message) -> bool:
    if message["type"] in ("http.response.start", "websocket.http.response.start"):
        return message["status"] == 401 or any(name == b"www-authenticate" for name, _ in message.get("headers", ()))
    return message["type"] == "websocket.close" and message.get("code") == AUTH_FAILED_CLOSE
