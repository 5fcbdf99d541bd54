"""/healthz fails only on what a restart fixes (a dead consumer task); /readyz on anything not ready."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from shared.http_observability import LIVENESS_BUDGET_SECONDS, instrument


def app_with(checks: dict[str, bool], delay: float = 0.0) -> FastAPI:
    async def readiness() -> dict[str, bool]:
        await asyncio.sleep(delay)
        return checks

    app = FastAPI()
    instrument(app, "test", readiness)
    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


async def test_a_dead_consumer_fails_liveness_and_readiness() -> None:
    app = app_with({"database": True, "consumer": False})
    health = await get(app, "/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "dead", "checks": {"consumer": False}}
    assert (await get(app, "/readyz")).status_code == 503


async def test_a_database_outage_is_not_ready_but_alive() -> None:
    app = app_with({"database": False, "consumer": True})
    assert (await get(app, "/readyz")).status_code == 503
    assert (await get(app, "/healthz")).status_code == 200


async def test_a_service_without_consumer_is_alive() -> None:
    health = await get(app_with({"database": True}), "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "checks": {}})


async def test_readiness_slower_than_the_liveness_budget_counts_as_alive() -> None:
    app = app_with({"database": True, "consumer": False}, delay=LIVENESS_BUDGET_SECONDS + 0.5)
    assert (await get(app, "/healthz")).status_code == 200
