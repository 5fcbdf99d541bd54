"""Per-HTTP-request trace context and Prometheus metrics, installed on every service's FastAPI app."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing
from shared.rate_limit import RateLimitMiddleware, RateLimits, Render, problem_429
from shared.security_headers import SecurityHeadersMiddleware
from shared.service_app import ReadinessCheck, add_operational_routes
from shared.settings import PlatformSettings

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (streams: time to the first byte)",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class ObservabilityMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it sits on every request, so it must cost next to nothing."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # prometheus_client's labels() validates and locks on every call: a reconnect storm paid 4% of
        # notify's CPU there. The label sets are bounded (route templates, not paths), so each is kept.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = (
                HTTP_LATENCY.labels(self.service, method, route),
                HTTP_REQUESTS.labels(self.service, method, route, str(status)),
            )
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"traceparent":
                incoming = tracing.parse_traceparent(value)
        trace = incoming.child() if incoming else tracing.new_trace()
        token = tracing.activate(trace)
        started = time.perf_counter()
        status = 500

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"traceparent", trace.traceparent().encode()))
                message = {**message, "headers": headers}
                # The template, not the path, keeps label cardinality bounded (no request ids in labels).
                route = getattr(scope.get("route"), "path", "unmatched")
                latency, answered = self._series(scope["method"], route, status)
                latency.observe(time.perf_counter() - started)
                answered.inc()
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            tracing.deactivate(token)


# Readiness checks under these names report background tasks (a service's Kafka consumer loop and its
# companions) that never come back once they stopped: readiness alone would leave such a pod out of the
# load balancer forever, so /healthz fails on them and the orchestrator restarts the process. The database
# and Kafka stay readiness only: restarting a process does not bring them back.
LIVENESS_CHECKS = frozenset({"consumer"})
# A liveness probe must answer quickly; readiness pings the database, which hangs while it is away.
LIVENESS_BUDGET_SECONDS = 1.5


class Liveness:
    """Liveness from readiness: a check of LIVENESS_CHECKS that was true once (on /readyz or /healthz) and
    is false now means a task died. One that was never true yet is a service still starting (or an app
    built without its lifespan, as in-process tests do): that is the startup probe's business."""

    def __init__(self, readiness: ReadinessCheck) -> None:
        self._readiness = readiness
        self._seen_true: set[str] = set()

    async def readiness(self) -> dict[str, bool]:
        checks = await self._readiness()
        self._seen_true.update(name for name, ok in checks.items() if ok and name in LIVENESS_CHECKS)
        return checks

    async def liveness(self) -> dict[str, bool]:
        try:
            checks = await asyncio.wait_for(self.readiness(), LIVENESS_BUDGET_SECONDS)
        except TimeoutError:
            return {}  # a slow dependency is no reason to restart this process
        return {name: ok for name, ok in checks.items() if name in self._seen_true}


def instrument(
    app: FastAPI,
    service: str,
    readiness: ReadinessCheck,
    *,
    limits: RateLimits | None = None,
    render_limit: Render = problem_429,
    page_headers: dict[str, str] | None = None,
) -> None:
    """Add /healthz (fails when a consumer task died), /readyz, /metrics, a middleware that traces and
    measures every request, the rate limits (GRID_RATE_* from the environment unless `limits` is given) in
    front of all routes, and the security headers (`page_headers`: a service that serves pages adds its CSP)."""
    watched = Liveness(readiness)
    add_operational_routes(app, watched.readiness, watched.liveness)
    app.add_middleware(SecurityHeadersMiddleware, page_headers=page_headers)
    app.add_middleware(RateLimitMiddleware, limits=limits or PlatformSettings().rate_limits(), render=render_limit)
    # Added last, so outermost: refusals are traced and counted like any answer.
    app.add_middleware(ObservabilityMiddleware, service=service)
