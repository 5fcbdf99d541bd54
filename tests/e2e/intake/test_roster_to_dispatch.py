"""A roster change made through intake's admin API is what dispatch matches with next, with no restart:
the announcement and the next submission travel on the district's key, in that order."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
BASE = "/v1/districts/chengzhong"


async def offered_to(db: AsyncDatabase[Document], request_id: str, within: float = 20.0) -> list[str]:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        document = await db.requests.find_one({"_id": request_id})
        if document is not None and document.get("offered_volunteer_ids"):
            return list(document["offered_volunteer_ids"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} was offered to nobody within {within}s")


def volunteer(**changes: Any) -> dict[str, Any]:
    return {"grid_id": "rs-01", "name": "新来的", "skills": ["errand"], **changes}


async def test_an_added_volunteer_is_offered_the_next_request_and_an_off_duty_one_is_not(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document]
) -> None:
    keys = ApiKeyRepository(db)
    admin = {"X-API-Key": await keys.create(district_id="chengzhong", role=Role.DISTRICT_ADMIN, subject="e2e-roster")}
    client = {"X-API-Key": await keys.create(district_id="chengzhong", role=Role.CLIENT_APP, subject="e2e-roster")}
    request = {
        "menu_item_code": "errand.groceries",
        "grid_id": "rs-01",
        "resident_name": "马奶奶",
        "resident_phone": "13800004321",
    }

    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30) as intake:
        grid = {"community_id": "xianggelila", "name_zh": "新网格", "name_en": "New grid"}
        assert (await intake.put(f"{BASE}/grids/rs-01", json=grid, headers=admin)).status_code == 201
        assert (await intake.put(f"{BASE}/volunteers/v-rs-1", json=volunteer(), headers=admin)).status_code == 201
        first = await intake.post(f"{BASE}/requests", json=request, headers=client)
        first_offer = await offered_to(db, first.json()["request_id"])

        off_duty = await intake.put(f"{BASE}/volunteers/v-rs-1", json=volunteer(on_duty=False), headers=admin)
        added = await intake.put(f"{BASE}/volunteers/v-rs-2", json=volunteer(), headers=admin)
        second = await intake.post(f"{BASE}/requests", json=request, headers=client)
        second_offer = await offered_to(db, second.json()["request_id"])

    assert first_offer == ["v-rs-1"]
    assert (off_duty.status_code, added.status_code) == (200, 201)
    assert second_offer == ["v-rs-2"]
