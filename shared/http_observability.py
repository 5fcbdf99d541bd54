"""Per-HTTP-request trace context and Prometheus metrics, installed on every service's FastAPI app."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Histogram

from shared import tracing
from shared.service_app import ReadinessCheck, add_operational_routes

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (streams: time to the first byte)",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _route_template(request: Request) -> str:
    # The template, not the path, keeps label cardinality bounded (no request ids in labels).
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def instrument(app: FastAPI, service: str, readiness: ReadinessCheck) -> None:
    """Add /healthz, /readyz, /metrics, and a middleware that traces and measures every request."""
    add_operational_routes(app, readiness)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        context = tracing.parse_traceparent(request.headers.get(tracing.TRACEPARENT_HEADER))
        token = tracing.activate(context.child() if context else tracing.new_trace())
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            trace = tracing.current()
            tracing.deactivate(token)
        route = _route_template(request)
        HTTP_LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        if trace is not None:
            response.headers[tracing.TRACEPARENT_HEADER] = trace.traceparent()
        return response
