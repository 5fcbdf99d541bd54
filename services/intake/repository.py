"""Intake's reads from MongoDB; every query starts from the caller's district."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document


class IntakeRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def district_exists(self, district_id: str) -> bool:
        return await self._db.districts.find_one({"_id": district_id}, {"_id": 1}) is not None

    async def grid(self, district_id: str, grid_id: str) -> Document | None:
        return await self._db.grids.find_one({"_id": grid_id, "district_id": district_id})

    async def menu_item(self, district_id: str, community_id: str, code: str) -> Document | None:
        return await self._db.menu_items.find_one(
            {"district_id": district_id, "community_id": community_id, "code": code}
        )

    async def request(self, district_id: str, request_id: str) -> Document | None:
        return await self._db.requests.find_one(
            {"_id": request_id, "district_id": district_id},
            {"processed_event_ids": 0, "outbox": 0},
        )
