"""Intake's reference cache on the real database and broker: a warm submission reads nothing, and what another
process changes (a key revoked, a menu item removed, a grid added) is seen within the check interval.

Its own district (chengnan) and its own app, with keys cached as deployed (INTAKE_AUTH_CACHE_SECONDS=5), so
that the other intake tests' writes do not disturb it, nor its writes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.intake.api import create_app
from services.intake.context import IntakeContext
from services.intake.reference_models import GridFields
from services.intake.reference_service import Row, write_one
from services.intake.repository import IntakeRepository
from services.intake.settings import ApiLimits
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from shared.settings import IntakeSettings

pytestmark = pytest.mark.integration
CHECK_SECONDS = 0.2
# The bound is the check interval plus one read; the rest is slack for a machine shared by many test runs.
WITHIN_SECONDS = CHECK_SECONDS + 3.0
DISTRICT: dict[str, Any] = {
    "district": {"id": "chengnan", "name_zh": "城南区", "name_en": "Chengnan District"},
    "street_offices": [{"id": "cn-so", "name_zh": "城南街道", "name_en": "Chengnan Street Office"}],
    "communities": [{"id": "cn-c1", "street_office_id": "cn-so", "name_zh": "一社区", "name_en": "Community 1"}],
    "grids": [{"id": "cn-01", "community_id": "cn-c1", "name_zh": "一网格", "name_en": "Grid 1"}],
    "menu": [
        {"code": "errand.groceries", "name_zh": "代购米面油", "name_en": "Groceries", "category": "errand"},
        {"code": "errand.parcel", "name_zh": "取快递", "name_en": "Parcel", "category": "errand"},
    ],
}


def body(**overrides: str) -> dict[str, str]:
    return {
        "menu_item_code": "errand.groceries",
        "grid_id": "cn-01",
        "resident_name": "南居民",
        "resident_phone": "13800005678",
        "text": "一袋米",
        **overrides,
    }


@pytest.fixture(scope="module")
async def chengnan(db: AsyncDatabase[Document]) -> str:
    await reference_data.load(db, DISTRICT)
    return await ApiKeyRepository(db).create(district_id="chengnan", role=Role.CLIENT_APP, subject="cache-test")


@pytest.fixture(scope="module")
async def cached_intake(
    intake_settings: IntakeSettings, chengnan: str
) -> AsyncIterator[tuple[httpx.AsyncClient, IntakeContext]]:
    limits = ApiLimits(
        INTAKE_AUTH_CACHE_SECONDS=5, INTAKE_REFERENCE_CHECK_SECONDS=CHECK_SECONDS, INTAKE_RATE_PER_SECOND=1000
    )
    app = create_app(intake_settings, limits)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=30) as client:
            yield client, app.state.intake


async def seconds_until(condition: Callable[[], Awaitable[bool]]) -> float:
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < WITHIN_SECONDS, f"not seen within {WITHIN_SECONDS}s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_warm_submission_reads_no_database(
    cached_intake: tuple[httpx.AsyncClient, IntakeContext], chengnan: str
) -> None:
    client, ctx = cached_intake
    headers = {"X-API-Key": chengnan}
    first = await client.post("/v1/districts/chengnan/requests", json=body(), headers=headers)
    await asyncio.sleep(CHECK_SECONDS * 2)  # the first check confirms what the key was read under
    reads = ctx.reference.database_reads

    answers = [await client.post("/v1/districts/chengnan/requests", json=body(), headers=headers) for _ in range(20)]

    assert first.status_code == 202 and [a.status_code for a in answers] == [202] * 20
    assert ctx.reference.database_reads == reads


async def test_a_menu_item_removed_elsewhere_is_refused_within_the_check_interval(
    cached_intake: tuple[httpx.AsyncClient, IntakeContext], chengnan: str, db: AsyncDatabase[Document]
) -> None:
    client, _ = cached_intake
    headers = {"X-API-Key": chengnan}
    parcel = body(menu_item_code="errand.parcel")
    assert (await client.post("/v1/districts/chengnan/requests", json=parcel, headers=headers)).status_code == 202

    # Another process: its own repository, which only the version token tells this intake about.
    assert await IntakeRepository(db).delete_reference("menu_items", "chengnan", "cn-c1:errand.parcel")

    async def refused() -> bool:
        response = await client.post("/v1/districts/chengnan/requests", json=parcel, headers=headers)
        return response.status_code == 422 and response.json()["errors"][0]["field"] == "menu_item_code"

    await seconds_until(refused)


async def test_a_grid_added_elsewhere_is_accepted_within_the_check_interval(
    cached_intake: tuple[httpx.AsyncClient, IntakeContext], chengnan: str, db: AsyncDatabase[Document]
) -> None:
    client, _ = cached_intake
    headers = {"X-API-Key": chengnan}
    on_new_grid = body(grid_id="cn-02")
    assert (await client.post("/v1/districts/chengnan/requests", json=on_new_grid, headers=headers)).status_code == 422

    fields = GridFields.model_validate({"community_id": "cn-c1", "name_zh": "二网格", "name_en": "Grid 2"})
    await write_one(
        IntakeRepository(db), kind="grids", district_id="chengnan", row=Row(fields, document_id="cn-02"), roster=None
    )

    async def accepted() -> bool:
        response = await client.post("/v1/districts/chengnan/requests", json=on_new_grid, headers=headers)
        return response.status_code == 202

    await seconds_until(accepted)


async def test_a_key_revoked_elsewhere_is_refused_within_the_check_interval(
    cached_intake: tuple[httpx.AsyncClient, IntakeContext], db: AsyncDatabase[Document]
) -> None:
    client, ctx = cached_intake
    keys = ApiKeyRepository(db)
    key = await keys.create(district_id="chengnan", role=Role.CLIENT_APP, subject="soon-revoked")
    headers = {"X-API-Key": key}
    assert (await client.post("/v1/districts/chengnan/requests", json=body(), headers=headers)).status_code == 202
    await asyncio.sleep(CHECK_SECONDS * 2)
    reads = ctx.reference.database_reads
    assert (await client.post("/v1/districts/chengnan/requests", json=body(), headers=headers)).status_code == 202
    assert ctx.reference.database_reads == reads  # the key is served from memory

    assert await keys.revoke(key.split("_")[1])

    async def refused() -> bool:
        response = await client.post("/v1/districts/chengnan/requests", json=body(), headers=headers)
        return response.status_code == 401

    await seconds_until(refused)
