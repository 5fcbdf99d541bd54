"""The console's reads; every query starts from the operator's district."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

CLOSED_STATUSES = ["resolved", "rated", "cancelled", "rejected", "expired"]
BOARD_FIELDS = {
    "_id": 1,
    "status": 1,
    "level": 1,
    "priority": 1,
    "grid_id": 1,
    "community_id": 1,
    "menu_item_code": 1,
    "assigned_volunteer_id": 1,
    "offered_volunteer_ids": 1,
    "sla_due_at": 1,
    "submitted_at": 1,
    "updated_at": 1,
    "redo_count": 1,
}
# Operators see who asked, but never the phone number in lists.
DETAIL_EXCLUDED = {"processed_event_ids": 0, "outbox": 0, "resident.phone": 0, "resident_phone": 0}


class ConsoleRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def district(self, district_id: str) -> Document | None:
        return await self._db.districts.find_one({"_id": district_id})

    async def status_counts(self, district_id: str) -> list[dict[str, Any]]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"district_id": district_id}},
            {"$group": {"_id": {"status": "$status", "level": "$level"}, "count": {"$sum": 1}}},
        ]
        cursor = await self._db.requests.aggregate(pipeline)
        return [
            {"status": row["_id"].get("status"), "level": row["_id"].get("level"), "count": row["count"]}
            async for row in cursor
        ]

    async def open_requests(self, district_id: str, limit: int = 300) -> list[Document]:
        cursor = (
            self._db.requests.find({"district_id": district_id, "status": {"$nin": CLOSED_STATUSES}}, BOARD_FIELDS)
            .sort([("submitted_at", DESCENDING)])
            .limit(limit)
        )
        return [document async for document in cursor]

    async def request(self, district_id: str, request_id: str) -> Document | None:
        return await self._db.requests.find_one({"_id": request_id, "district_id": district_id}, DETAIL_EXCLUDED)

    async def volunteers(self, district_id: str) -> list[Document]:
        """Profiles (the admin's `volunteers`) with their load (dispatch's `volunteer_load`; none yet means 0)."""
        cursor = self._db.volunteers.find(
            {"district_id": district_id},
            {"_id": 1, "name": 1, "grid_id": 1, "community_id": 1, "capacity": 1, "active": 1, "on_duty": 1},
        ).sort([("grid_id", ASCENDING), ("_id", ASCENDING)])
        profiles = [document async for document in cursor]
        loads = {
            load["_id"]: load
            async for load in self._db.volunteer_load.find(
                {"district_id": district_id}, {"open_assignments": 1, "last_assigned_at": 1}
            )
        }
        for profile in profiles:
            load = loads.get(profile["_id"], {})
            profile["open_assignments"] = int(load.get("open_assignments") or 0)
            profile["last_assigned_at"] = load.get("last_assigned_at")
        return profiles

    async def requests_submitted_between(self, district_id: str, start: datetime, end: datetime) -> list[Document]:
        cursor = self._db.requests.find(
            {"district_id": district_id, "submitted_at": {"$gte": start, "$lt": end}},
            {"processed_event_ids": 0, "outbox": 0, "resident": 0, "resident_phone": 0, "decisions": 0},
        )
        return [document async for document in cursor]

    async def count(self, collection: str, query: dict[str, Any]) -> int:
        return await self._db[collection].count_documents(query)
