"""Notify's store of status events, the history that streams replay from."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.contracts import EventEnvelope, StatusChangedV1
from shared.mongo import Document


class StatusEventRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._events = db.status_events

    async def ensure_indexes(self) -> None:
        await self._events.create_index([("request_id", ASCENDING), ("sequence", ASCENDING)])

    async def record(self, envelope: EventEnvelope, data: StatusChangedV1) -> bool:
        """Store an event once; False when it was already stored (a republished outbox entry)."""
        try:
            await self._events.insert_one(
                {
                    "_id": envelope.id,
                    "request_id": envelope.request_id,
                    "district_id": envelope.district_id,
                    "sequence": data.sequence,
                    "time": envelope.time,
                    "envelope": envelope.model_dump(mode="json"),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def history(self, request_id: str, after_sequence: int = 0) -> list[EventEnvelope]:
        cursor = self._events.find(
            {"request_id": request_id, "sequence": {"$gt": after_sequence}}, sort=[("sequence", ASCENDING)]
        )
        return [EventEnvelope.model_validate(document["envelope"]) async for document in cursor]
