"""Dispatch's MongoDB access: the request aggregate (with its outbox) and the volunteer roster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import Document


class VersionConflict(RuntimeError):
    """Another writer changed the request since it was read: reload and apply again."""


class RequestRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._requests = db.requests
        self._volunteers = db.volunteers

    async def ensure_indexes(self) -> None:
        await self._requests.create_index([("district_id", ASCENDING), ("status", ASCENDING)])
        await self._requests.create_index([("outbox_pending", ASCENDING)])
        await self._volunteers.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])

    async def get(self, request_id: str) -> Document | None:
        return await self._requests.find_one({"_id": request_id})

    async def create(self, document: Document) -> bool:
        """Insert a new request; False when it already exists (a redelivery or a retried submit)."""
        try:
            await self._requests.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def remove_from_outbox(self, request_id: str, published_ids: set[str], attempts: int = 10) -> None:
        """Drop published events from the outbox of the latest version of the request."""
        for _ in range(attempts):
            document = await self.get(request_id)
            if document is None:
                return
            remaining = [event for event in document.get("outbox", []) if event["id"] not in published_ids]
            if len(remaining) == len(document.get("outbox", [])):
                return
            update: dict[str, Any] = {
                "$set": {"outbox": remaining, "outbox_pending": bool(remaining)},
                "$inc": {"version": 1},
            }
            result = await self._requests.update_one({"_id": request_id, "version": document["version"]}, update)
            if result.matched_count == 1:
                return
        raise VersionConflict(request_id)

    async def with_pending_outbox(self, older_than: datetime, limit: int = 100) -> list[Document]:
        cursor = self._requests.find({"outbox_pending": True, "updated_at": {"$lt": older_than}}).limit(limit)
        return [document async for document in cursor]

    async def first_active_volunteer(self, district_id: str, grid_id: str) -> Document | None:
        return await self._volunteers.find_one(
            {"district_id": district_id, "grid_id": grid_id, "active": True}, sort=[("_id", ASCENDING)]
        )
