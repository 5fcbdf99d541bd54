"""Notify's store of status events: the history that streams replay from, ordered per district.

Every stored event gets a `position`, dense and increasing within its district, from a counter document
(`$inc` via find_one_and_update). Two replicas store the same event: `_id` is the event id, so the
second insert fails and that replica fills the position it claimed with a placeholder. A unique index
on (district_id, position) makes every position hold exactly one document, event or placeholder; a
reader that finds a position still empty after a timeout writes the placeholder itself, and a writer
that loses its position that way claims a new one. So positions settle once and readers can deliver
them strictly in order without gaps or repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain.audiences import Scope, history_filter, volunteers_of
from shared.contracts import EventEnvelope, StatusChangedV1
from shared.mongo import Document

# A claimed position older than this is given up by its writer, which claims a fresh one instead.
STALE_CLAIM_SECONDS = 1.0


@dataclass(frozen=True)
class StoredEvent:
    position: int
    district_id: str
    request_id: str
    event_type: str
    volunteers: list[str]
    routing: dict[str, Any]
    envelope: dict[str, Any]


def stored_event(document: Document) -> StoredEvent:
    envelope = document["envelope"]
    return StoredEvent(
        position=int(document["position"]),
        district_id=document["district_id"],
        request_id=document["request_id"],
        event_type=envelope["type"],
        volunteers=list(document.get("volunteers") or []),
        routing={
            "status": document.get("status"),
            "community_id": document.get("community_id"),
            "grid_id": document.get("grid_id"),
        },
        envelope=envelope,
    )


class StatusEventRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._events = db.status_events
        self._counters = db.notify_positions

    async def ensure_indexes(self) -> None:
        await self._events.create_index([("district_id", ASCENDING), ("position", ASCENDING)], unique=True)
        await self._events.create_index([("request_id", ASCENDING), ("position", ASCENDING)])
        await self._events.create_index([("district_id", ASCENDING), ("volunteers", ASCENDING)])
        await self._events.create_index([("stored_at", ASCENDING)])

    async def _claim(self, district_id: str) -> int:
        counter = await self._counters.find_one_and_update(
            {"_id": district_id}, {"$inc": {"head": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert counter is not None
        return int(counter["head"])

    async def record(self, envelope: EventEnvelope, data: StatusChangedV1) -> tuple[int, bool]:
        """Store an event once; return its position and whether this call stored it."""
        document: Document = {
            "_id": envelope.id,
            "kind": "event",
            "request_id": envelope.request_id,
            "district_id": envelope.district_id,
            "sequence": data.sequence,
            "status": data.status,
            "community_id": data.community_id,
            "grid_id": data.grid_id,
            "volunteers": volunteers_of(data.model_dump()),
            "time": envelope.time,
            "envelope": envelope.model_dump(mode="json"),
        }
        while True:
            existing = await self._events.find_one({"_id": envelope.id})
            if existing is not None:
                return int(existing["position"]), False
            claimed_at = datetime.now(UTC)
            position = await self._claim(envelope.district_id)
            if (datetime.now(UTC) - claimed_at).total_seconds() > STALE_CLAIM_SECONDS:
                await self.fill_gap(envelope.district_id, position)
                continue
            try:
                await self._events.insert_one({**document, "position": position, "stored_at": datetime.now(UTC)})
            except DuplicateKeyError:
                # Either the other replica stored this event first, or a reader declared our position empty.
                if await self._events.find_one({"_id": envelope.id}) is not None:
                    await self.fill_gap(envelope.district_id, position)
                continue
            return position, True

    async def fill_gap(self, district_id: str, position: int) -> bool:
        """Mark a position as holding no event; False when something already holds it."""
        try:
            await self._events.insert_one(
                {
                    "_id": f"gap:{district_id}:{position}",
                    "kind": "gap",
                    "district_id": district_id,
                    "position": position,
                    "stored_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def after(self, district_id: str, position: int, limit: int = 500) -> list[Document]:
        """Raw documents (events and placeholders) of a district after `position`, in order."""
        cursor = self._events.find(
            {"district_id": district_id, "position": {"$gt": position}}, sort=[("position", ASCENDING)], limit=limit
        )
        return [document async for document in cursor]

    async def history(self, district_id: str, scope: Scope, *, after: int, upto: int) -> list[StoredEvent]:
        query = history_filter(district_id, scope)
        query["position"] = {"$gt": after, "$lte": upto}
        cursor = self._events.find(query, sort=[("position", ASCENDING)])
        return [stored_event(document) async for document in cursor]

    async def district_of(self, request_id: str) -> str | None:
        document = await self._events.find_one({"request_id": request_id, "kind": "event"})
        return None if document is None else str(document["district_id"])

    async def bounds(self, district_id: str) -> tuple[int, int]:
        """(floor, head): highest position expired from history, highest position claimed so far."""
        counter = await self._counters.find_one({"_id": district_id}) or {}
        return int(counter.get("floor", 0)), int(counter.get("head", 0))

    async def settled_start(self, district_id: str, settle_seconds: float) -> int:
        """Where a reader starting now begins: the last position stored longer ago than `settle_seconds`."""
        cutoff = datetime.now(UTC) - timedelta(seconds=settle_seconds)
        document = await self._events.find_one(
            {"district_id": district_id, "stored_at": {"$lt": cutoff}}, sort=[("position", DESCENDING)]
        )
        settled = 0 if document is None else int(document["position"])
        floor, _ = await self.bounds(district_id)
        return max(settled, floor)

    async def expire(self, older_than: timedelta) -> int:
        """Our own TTL sweep: raise each district's floor first, then delete what lies below it."""
        cutoff = datetime.now(UTC) - older_than
        removed = 0
        for district_id in await self._events.distinct("district_id"):
            newest_old = await self._events.find_one(
                {"district_id": district_id, "stored_at": {"$lt": cutoff}}, sort=[("position", DESCENDING)]
            )
            if newest_old is None:
                continue
            floor = int(newest_old["position"])
            await self._counters.update_one({"_id": district_id}, {"$max": {"floor": floor}}, upsert=True)
            result = await self._events.delete_many({"district_id": district_id, "position": {"$lte": floor}})
            removed += result.deleted_count
        return removed
