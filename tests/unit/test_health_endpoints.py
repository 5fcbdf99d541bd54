"""/healthz fails only on what a restart fixes (a dead consumer task); /readyz on anything not ready."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from shared.http_observability import LIVENESS_BUDGET_SECONDS, instrument


def app_with(checks: dict[str, bool], delay: float = 0.0) -> FastAPI:
    async def readiness() -> dict[str, bool]:
        await asyncio.sleep(delay)
        return dict(checks)

    app = FastAPI()
    instrument(app, "test", readiness)
    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


async def test_a_consumer_that_ran_and_died_fails_liveness_and_readiness() -> None:
    checks = {"database": True, "consumer": True}
    app = app_with(checks)
    assert (await get(app, "/readyz")).status_code == 200
    checks["consumer"] = False
    health = await get(app, "/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "dead", "checks": {"consumer": False}}
    assert (await get(app, "/readyz")).status_code == 503


async def test_a_consumer_not_started_yet_is_the_startup_probes_business() -> None:
    app = app_with({"database": True, "consumer": False})
    assert (await get(app, "/healthz")).status_code == 200
    assert (await get(app, "/readyz")).status_code == 503


async def test_a_database_outage_is_not_ready_but_alive() -> None:
    app = app_with({"database": False, "consumer": True})
    assert (await get(app, "/readyz")).status_code == 503
    health = await get(app, "/healthz")
    assert (health.status_code, health.json()["checks"]) == (200, {"consumer": True})


async def test_a_service_without_consumer_is_alive() -> None:
    health = await get(app_with({"database": True}), "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "checks": {}})


async def test_readiness_slower_than_the_liveness_budget_counts_as_alive() -> None:
    checks = {"database": True, "consumer": True}
    app = app_with(checks, delay=LIVENESS_BUDGET_SECONDS + 0.5)
    assert (await get(app, "/readyz")).status_code == 200
    checks["consumer"] = False
    assert (await get(app, "/healthz")).status_code == 200
