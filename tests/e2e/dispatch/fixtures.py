"""Reference data the dispatch tests add to their database: grids, volunteers, menu items with fast clocks."""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import (
    REQUEST_SUBMITTED,
    VOLUNTEER_CHANGED,
    EventEnvelope,
    RequestSubmittedV1,
    VolunteerChangedV1,
    new_event,
)
from shared.kafka import EventPublisher
from shared.mongo import Document
from shared.settings import PlatformSettings

DISTRICT = "chengzhong"
STREET = "renminjie"


async def add_grid(db: AsyncDatabase[Document], grid_id: str, community_id: str) -> None:
    await db.grids.update_one(
        {"_id": grid_id},
        {"$set": {"district_id": DISTRICT, "community_id": community_id, "street_office_id": STREET}},
        upsert=True,
    )


async def add_volunteer(
    db: AsyncDatabase[Document],
    settings: PlatformSettings,
    volunteer_id: str,
    grid_id: str,
    community_id: str,
    skills: list[str],
    capacity: int = 3,
) -> None:
    await db.volunteers.update_one(
        {"_id": volunteer_id},
        {
            "$set": {
                "district_id": DISTRICT,
                "street_office_id": STREET,
                "community_id": community_id,
                "grid_id": grid_id,
                "name": volunteer_id,
                "kind": "volunteer",
                "skills": skills,
                "languages": ["zh"],
                "capacity": capacity,
                "active": True,
                "availability": [],
            }
        },
        upsert=True,
    )
    # As the admin does after every write: the owning dispatch replica learns of it from the district's key.
    announcement = new_event(
        event_type=VOLUNTEER_CHANGED,
        source="test",
        district_id=DISTRICT,
        request_id=None,
        data=VolunteerChangedV1(
            volunteer_id=volunteer_id,
            street_office_id=STREET,
            community_id=community_id,
            grid_id=grid_id,
            skills=skills,
            languages=["zh"],
            capacity=capacity,
        ),
    )
    publisher = EventPublisher(settings.kafka_bootstrap, 10.0)
    try:
        await publisher.publish(settings.topics().requests, announcement)
    finally:
        await publisher.close()


async def add_menu_item(db: AsyncDatabase[Document], community_id: str, code: str, **terms: Any) -> None:
    await db.menu_items.update_one(
        {"_id": f"{community_id}:{code}"},
        {
            "$set": {
                "district_id": DISTRICT,
                "community_id": community_id,
                "code": code,
                "name_zh": code,
                "name_en": code,
                "category": "test",
                "active": True,
                **terms,
            }
        },
        upsert=True,
    )


def submitted(grid_id: str, menu_item_code: str, **fields: Any) -> EventEnvelope:
    request_id = f"r{uuid.uuid4().hex[:16]}"
    return new_event(
        event_type=REQUEST_SUBMITTED,
        source="test",
        district_id=DISTRICT,
        request_id=request_id,
        event_id=f"{request_id}:submitted",
        data=RequestSubmittedV1(
            menu_item_code=menu_item_code,
            grid_id=grid_id,
            resident_name="王仁柱",
            resident_phone="13800001234",
            **fields,
        ),
    )
