"""Dispatch's one-time read-model backfill runs after the process answers: a large history must not keep
/healthz silent (an orchestrator would restart the pod before the backfill ends, over and over)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.api import create_app
from services.dispatch.read_models import backfill
from services.dispatch.read_models.rates import MONTHLY_COLLECTION
from services.dispatch.settings import DispatchEngineSettings
from shared.mongo import Document
from tests.conftest import environment_for
from tests.infrastructure import Infrastructure
from tests.unit.console.test_rates import DATA

pytestmark = pytest.mark.integration


def requests_of(district_id: str) -> list[Document]:
    return [{**d, "_id": uuid.uuid4().hex, "district_id": district_id} for d in DATA]


async def test_backfill_reports_progress_and_writes_the_read_models(
    db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    district_id = f"bf-{uuid.uuid4().hex[:8]}"
    await db.districts.insert_one({"_id": district_id, "name_zh": "回填区", "timezone": "Asia/Shanghai"})
    stored = requests_of(district_id)
    await db.requests.insert_many(stored)
    monkeypatch.setattr(backfill, "PROGRESS_EVERY", 2)
    reports: list[tuple[str, int]] = []
    try:
        written = await backfill.rebuild(db, district_id, progress=lambda d, n: reports.append((d, n)))
        assert reports == [(district_id, n) for n in range(2, len(stored) + 1, 2)]
        assert written > 0
        assert await db[MONTHLY_COLLECTION].count_documents({"district_id": district_id}) > 0
    finally:
        await db.requests.delete_many({"district_id": district_id})
        await db.districts.delete_one({"_id": district_id})


async def readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()["checks"]


async def test_dispatch_is_alive_while_its_backfill_runs_and_ready_after_it(
    infrastructure: Infrastructure,
    run_id: str,
    mongo_client: AsyncMongoClient[Document],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = environment_for(infrastructure, run_id, "_backfill")
    db = mongo_client[env["MONGODB_DATABASE"]]
    district_id = "bf-start"
    await db.districts.insert_one({"_id": district_id, "name_zh": "回填区", "timezone": "Asia/Shanghai"})
    await db.requests.insert_many(requests_of(district_id))
    # The backfill is held until the test has looked at the service in the middle of it.
    entered, release = asyncio.Event(), asyncio.Event()
    real_once = backfill.once

    async def held_once(database: AsyncDatabase[Document], progress: backfill.Progress | None = None) -> int:
        entered.set()
        await release.wait()
        return await real_once(database, progress)

    monkeypatch.setattr(backfill, "once", held_once)
    app = create_app(DispatchEngineSettings(**env))  # type: ignore[arg-type]
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as client:
                await asyncio.wait_for(entered.wait(), 30)
                assert (await client.get("/healthz")).status_code == 200
                status, checks = await readyz(client)
                assert status == 503 and checks["read_models"] is False and checks["consumer"] is False
                release.set()
                for _ in range(300):
                    status, checks = await readyz(client)
                    if status == 200:
                        break
                    await asyncio.sleep(0.2)
                assert status == 200, checks
                assert checks == {"database": True, "read_models": True, "consumer": True}
                assert await db[MONTHLY_COLLECTION].count_documents({"district_id": district_id}) > 0
                assert await db.dispatch_migrations.find_one({"_id": "read-models-v2"}) is not None
    finally:
        await mongo_client.drop_database(env["MONGODB_DATABASE"])
