"""A linked-heart volunteer of a test's own for a demo household.

The e2e services are shared by the whole session, and earlier tests leave the demo's volunteers with open
offers and assignments; a test that needs the household's linked heart to be free links a new one first.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from shared import reference_versions
from shared.mongo import Document

DISTRICT = "chengzhong"


async def link_a_free_volunteer(
    intake_url: str, admin_key: str, db: AsyncDatabase[Document], household_id: str, grid_id: str
) -> str:
    """Create a volunteer in the household's grid (announced to dispatch by the admin API) and make them its
    linked heart; returns the volunteer's id once intake files with it."""
    volunteer_id = f"v-heart-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=intake_url, headers={"X-API-Key": admin_key}, timeout=30) as admin:
        created = await admin.put(
            f"/v1/districts/{DISTRICT}/volunteers/{volunteer_id}",
            json={"grid_id": grid_id, "name": "结对志愿者", "skills": ["errand", "repair"], "capacity": 5},
        )
        assert created.status_code in (200, 201), created.text
    # The household's link, as the admin writes it; intake re-reads residents when their token changes.
    await db.residents.update_one({"_id": household_id}, {"$set": {"linked_volunteer_id": volunteer_id}})
    await reference_versions.bump(db, "residents", [DISTRICT])
    await asyncio.sleep(2.5)  # intake checks the tokens every second
    return volunteer_id
