"""Health, readiness and Prometheus metrics endpoints that every service exposes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
# Checks that only a restart can fix (a consumer task that died); an empty answer means alive.
LivenessCheck = Callable[[], Awaitable[dict[str, bool]]]


async def _always_alive() -> dict[str, bool]:
    return {}


def add_operational_routes(app: FastAPI, readiness: ReadinessCheck, liveness: LivenessCheck = _always_alive) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        checks = await liveness()
        alive = all(checks.values())
        return JSONResponse({"status": "ok" if alive else "dead", "checks": checks}, status_code=200 if alive else 503)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
