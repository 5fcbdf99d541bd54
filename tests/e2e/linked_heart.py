"""A linked-heart volunteer of a test's own for a demo household.

The e2e services are shared by the whole session, and earlier tests leave the demo's volunteers with open
offers and assignments; a test that needs the household's linked heart to be free links a new one first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from shared import reference_versions
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.e2e.service_processes import ServiceProcess

DISTRICT = "chengzhong"
DEMO_HOUSEHOLD = "r-xgll-01-3-2-401"  # deploy/demo/chengzhong.yaml: 马秀兰, no phone


@asynccontextmanager
async def a_free_linked_heart(
    intake_url: str, admin_key: str, db: AsyncDatabase[Document], household_id: str, grid_id: str
) -> AsyncIterator[str]:
    """Create a volunteer in the household's grid (announced to dispatch by the admin API) and make them its
    linked heart for the block; the household's own link is put back afterwards (other tests read it)."""
    volunteer_id = f"v-heart-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=intake_url, headers={"X-API-Key": admin_key}, timeout=30) as admin:
        created = await admin.put(
            f"/v1/districts/{DISTRICT}/volunteers/{volunteer_id}",
            json={"grid_id": grid_id, "name": "结对志愿者", "skills": ["errand", "repair"], "capacity": 5},
        )
        assert created.status_code in (200, 201), created.text
    household = await db.residents.find_one({"_id": household_id})
    assert household is not None, household_id
    await _link(db, household_id, volunteer_id)
    try:
        yield volunteer_id
    finally:
        await _link(db, household_id, household.get("linked_volunteer_id"))


async def _link(db: AsyncDatabase[Document], household_id: str, volunteer_id: str | None) -> None:
    # As the admin writes it; intake re-reads residents when their token changes.
    await db.residents.update_one({"_id": household_id}, {"$set": {"linked_volunteer_id": volunteer_id}})
    await reference_versions.bump(db, "residents", [DISTRICT])
    await asyncio.sleep(2.5)  # intake checks the tokens every second


@pytest_asyncio.fixture
async def free_linked_heart(services: dict[str, ServiceProcess], db: AsyncDatabase[Document]) -> AsyncIterator[str]:
    """The demo household r-xgll-01-3-2-401 (no phone) with a linked heart of the test's own."""
    admin = await ApiKeyRepository(db).create(district_id=DISTRICT, role=Role.DISTRICT_ADMIN, subject="heart-admin")
    async with a_free_linked_heart(services["intake"].url, admin, db, DEMO_HOUSEHOLD, "xgll-01") as volunteer_id:
        yield volunteer_id
