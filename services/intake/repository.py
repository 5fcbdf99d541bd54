"""All of intake's MongoDB access; every query starts from the caller's district."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared import reference_versions
from shared.mongo import Document

# Never sent to any client: dispatch's bookkeeping.
INTERNAL_FIELDS = {"processed_event_ids": 0, "outbox": 0, "outbox_pending": 0, "decisions": 0}


DUPLICATE_KEY = 11000


# FerretDB v1 (PostgreSQL) holds a pooled connection per statement until the whole command is done: a bulk
# of more statements than its pool (180, deploy/native/stack.sh) deadlocks it. Commands stay well below.
MAX_WRITES_PER_COMMAND = 64


class _PositiveCache:
    """Remembers found documents for a few seconds; misses are never cached, so new data shows at once."""

    def __init__(self, seconds: float, max_entries: int = 5000) -> None:
        self._seconds, self._max = seconds, max_entries
        self._entries: dict[tuple[str, ...], tuple[float, Document]] = {}

    def get(self, key: tuple[str, ...]) -> Document | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: tuple[str, ...], document: Document) -> None:
        if self._seconds <= 0:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self._seconds, document)

    def forget(self, *prefix: str) -> None:
        for key in [k for k in self._entries if k[: len(prefix)] == prefix]:
            del self._entries[key]


# Told (collection, districts) after every reference write, in the writing process.
ChangeListener = Callable[[str, set[str]], None]


class IntakeRepository:
    def __init__(self, db: AsyncDatabase[Document], cache_seconds: float = 0.0) -> None:
        self._db = db
        self._cache = _PositiveCache(cache_seconds)
        self._listeners: list[ChangeListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        """Call `listener` after each reference write here (the process's own cache forgets at once)."""
        self._listeners.append(listener)

    async def _changed(self, collection: str, districts: set[str]) -> None:
        """After a reference write: this process's listeners, then the districts' version tokens for every
        other process (shared/reference_versions.py)."""
        self._cache.forget(collection)
        for listener in self._listeners:
            listener(collection, districts)
        if districts:
            await reference_versions.bump(self._db, collection, districts)

    async def ensure_indexes(self) -> None:
        await self._db.grids.create_index([("district_id", ASCENDING), ("community_id", ASCENDING)])
        await self._db.menu_items.create_index(
            [("district_id", ASCENDING), ("community_id", ASCENDING), ("code", ASCENDING)], unique=True
        )
        await self._db.volunteers.create_index([("district_id", ASCENDING), ("grid_id", ASCENDING)])
        # The volunteer page's sign-in finds a volunteer by phone.
        await self._db.volunteers.create_index([("phone", ASCENDING)])
        await self._db.residents.create_index([("district_id", ASCENDING), ("phone", ASCENDING)])
        await self._db.residents.create_index([("district_id", ASCENDING), ("proxy_phone", ASCENDING)])
        await self._db.requests.create_index([("district_id", ASCENDING), ("submitted_at", DESCENDING)])
        await self._db.requests.create_index([("district_id", ASCENDING), ("resident.phone", ASCENDING)])
        await self._db.requests.create_index([("district_id", ASCENDING), ("offered_volunteer_ids", ASCENDING)])
        await self._db.requests.create_index([("district_id", ASCENDING), ("assigned_volunteer_id", ASCENDING)])

    # --- reference data -------------------------------------------------------------------------

    async def _cached(self, collection: str, query: Document, key: tuple[str, ...]) -> Document | None:
        found = self._cache.get(key)
        if found is None:
            found = await self._db[collection].find_one(query)
            if found is not None:
                self._cache.put(key, found)
        return found

    async def district(self, district_id: str) -> Document | None:
        return await self._cached("districts", {"_id": district_id}, ("districts", district_id))

    async def district_exists(self, district_id: str) -> bool:
        return await self.district(district_id) is not None

    async def reference(self, collection: str, district_id: str, document_id: str) -> Document | None:
        return await self._db[collection].find_one({"_id": document_id, "district_id": district_id})

    async def references(
        self, collection: str, district_id: str, *, after: str | None, limit: int, **filters: Any
    ) -> list[Document]:
        query: Document = {"district_id": district_id, **{k: v for k, v in filters.items() if v is not None}}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self._db[collection].find(query).sort("_id", ASCENDING).limit(limit)
        return [document async for document in cursor]

    async def count_existing(self, collection: str, district_id: str, ids: list[str]) -> int:
        return await self._db[collection].count_documents({"district_id": district_id, "_id": {"$in": ids}})

    async def write_references(self, collection: str, writes: list[tuple[Document, bool]]) -> list[bool | None]:
        """Write (document, already stored in its district) pairs in one ordered bulk write: per document, True
        when created, False when updated, None when another district holds its `_id` (nothing written).

        A new document is inserted, which both databases refuse atomically when the `_id` exists (another
        district's creator included); a stored one is `$set` by `_id` alone, the only filter FerretDB v1 pushes
        down (`{_id, district_id}` would decode every document of the collection per write). Only a delete and
        another district's create of the same id between the caller's read and this write could slip past.
        """
        outcomes: list[bool | None] = [not stored for _, stored in writes]
        again: list[int] = []
        start = 0
        try:
            while start < len(writes):
                batch = writes[start : start + MAX_WRITES_PER_COMMAND]
                refused = 0
                operations = [
                    UpdateOne({"_id": d["_id"]}, {"$set": d}) if stored else InsertOne(d) for d, stored in batch
                ]
                try:
                    result = await self._db[collection].bulk_write(operations, ordered=True)
                    done, matched = len(batch), result.matched_count
                except BulkWriteError as exc:
                    error = exc.details["writeErrors"][0]
                    if error.get("code") != DUPLICATE_KEY:
                        raise
                    # An ordered write stops at the refused insert: decide it singly, go on after it.
                    done, matched = int(error["index"]), int(exc.details.get("nMatched", 0))
                    again.append(start + done)
                    refused = 1
                updates = [start + i for i, (_, stored) in enumerate(batch[:done]) if stored]
                if matched < len(updates):
                    again.extend(updates)  # some were deleted meanwhile: find out which, singly
                start += done + refused
            for index in sorted(set(again)):
                outcomes[index] = await self._write_singly(collection, writes[index][0])
        finally:
            await self._changed(collection, {str(d["district_id"]) for d, _ in writes})
        return outcomes

    async def _write_singly(self, collection: str, document: Document) -> bool | None:
        holder = await self.stored(collection, document["_id"])
        if holder is not None and holder.get("district_id") != document["district_id"]:
            return None
        if holder is not None:
            await self._db[collection].update_one({"_id": document["_id"]}, {"$set": document})
            return False
        try:
            await self._db[collection].insert_one(document)
        except DuplicateKeyError:
            return await self._write_singly(collection, document)
        return True

    async def stored(self, collection: str, document_id: str) -> Document | None:
        """The document holding this id in whichever district (ids are global per collection): for writers only."""
        return await self._db[collection].find_one({"_id": document_id})

    async def parent(self, collection: str, district_id: str, document_id: str) -> Document | None:
        """A document that another one names (a volunteer's grid): cached like every positive reference look-up."""
        return await self._cached(
            collection, {"_id": document_id, "district_id": district_id}, (collection, district_id, document_id)
        )

    async def delete_reference(self, collection: str, district_id: str, document_id: str) -> bool:
        result = await self._db[collection].delete_one({"_id": document_id, "district_id": district_id})
        await self._changed(collection, {district_id})
        return result.deleted_count == 1

    async def upsert_district(self, district_id: str, fields: Document) -> bool:
        result = await self._db.districts.update_one({"_id": district_id}, {"$set": fields}, upsert=True)
        await self._changed("districts", {district_id})
        return result.upserted_id is not None

    async def districts(self) -> list[Document]:
        return [d async for d in self._db.districts.find({}).sort("_id", ASCENDING).limit(1000)]

    async def menu(self, district_id: str, community_id: str | None = None, active_only: bool = True) -> list[Document]:
        query: Document = {"district_id": district_id}
        if community_id is not None:
            query["community_id"] = community_id
        if active_only:
            query["active"] = {"$ne": False}
        cursor = self._db.menu_items.find(query).sort([("community_id", ASCENDING), ("code", ASCENDING)])
        return [document async for document in cursor.limit(2000)]

    async def menu_items_by_code(self, district_id: str, code: str) -> list[Document]:
        cursor = self._db.menu_items.find({"district_id": district_id, "code": code, "active": {"$ne": False}})
        return [document async for document in cursor.limit(500)]

    async def resident(self, district_id: str, resident_id: str) -> Document | None:
        """A household by `_id`, within the district (submissions and the volunteer's view of a task).

        Filtered by `_id` alone, which FerretDB v1 always serves from its primary key, and the district checked
        here: another district's household answers None like one that does not exist."""
        found = await self._db.residents.find_one({"_id": resident_id})
        return found if found is not None and found.get("district_id") == district_id else None

    async def households_of_phone(self, district_id: str, phone: str, limit: int) -> list[Document]:
        """Households whose own phone or proxy's phone this is: two indexed equalities on top-level fields, no
        `$or` (FerretDB v1 evaluates an `$or`, or an equality on a nested field, over every document)."""
        found: dict[str, Document] = {}
        for field in ("phone", "proxy_phone"):
            cursor = self._db.residents.find({"district_id": district_id, field: phone}).limit(limit)
            async for document in cursor:
                found.setdefault(document["_id"], document)
        return list(found.values())[:limit]

    # --- idempotency keys (written by intake only) ------------------------------------------------

    async def remember_idempotency(self, record_id: str, fingerprint: str, *, district_id: str) -> str | None:
        """Store the fingerprint unless the record exists; return the earlier fingerprint, or None if first."""
        try:
            await self._db.idempotency_keys.insert_one(
                {
                    "_id": record_id,
                    "district_id": district_id,
                    "fingerprint": fingerprint,
                    "created_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            found = await self._db.idempotency_keys.find_one({"_id": record_id})
            return None if found is None else str(found.get("fingerprint"))
        return None

    # --- requests (written by dispatch) ----------------------------------------------------------

    async def request(self, district_id: str, request_id: str) -> Document | None:
        return await self._db.requests.find_one({"_id": request_id, "district_id": district_id}, INTERNAL_FIELDS)

    async def reply_prompt(self, phone: str) -> Document | None:
        """The latest message that asked this phone for a digit reply (written by notify; CONTRACTS B)."""
        return await self._db.reply_prompts.find_one({"_id": phone})

    async def search_requests(self, district_id: str, conditions: list[Document], limit: int) -> list[Document]:
        query: Document = {"district_id": district_id}
        if conditions:
            query["$and"] = conditions
        cursor = (
            self._db.requests.find(query, INTERNAL_FIELDS)
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [document async for document in cursor]

    async def requests_of_phone(self, district_id: str, phone: str, limit: int = 200) -> list[Document]:
        cursor = (
            self._db.requests.find({"district_id": district_id, "resident.phone": phone}, INTERNAL_FIELDS)
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [document async for document in cursor]

    async def requests_with_phone(self, district_id: str, phone: str, limit: int) -> list[Document]:
        """At most `limit` requests filed with this phone, by an indexed equality and no sort (on dispatch's
        top-level `resident_phone`: requests stored before it existed are not found this way)."""
        cursor = self._db.requests.find({"district_id": district_id, "resident_phone": phone}, INTERNAL_FIELDS)
        return [document async for document in cursor.limit(limit)]

    async def requests_of_resident(self, district_id: str, resident_id: str, limit: int) -> list[Document]:
        """At most `limit` of a household's requests, by an indexed equality and no sort: a household files
        a handful a month, so the caller orders these few in memory."""
        cursor = self._db.requests.find({"district_id": district_id, "resident_id": resident_id}, INTERNAL_FIELDS)
        return [document async for document in cursor.limit(limit)]

    async def requests_by_ids(self, district_id: str, ids: list[str]) -> list[Document]:
        cursor = self._db.requests.find({"district_id": district_id, "_id": {"$in": ids}}, INTERNAL_FIELDS)
        return [document async for document in cursor.limit(len(ids) or 1)]

    async def requests_between(
        self,
        district_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        menu_item_codes: list[str] | None,
        statuses: list[str] | None,
        limit: int,
    ) -> list[Document]:
        query: Document = {"district_id": district_id}
        window: Document = {}
        if start is not None:
            window["$gte"] = start
        if end is not None:
            window["$lte"] = end
        if window:
            query["submitted_at"] = window
        if menu_item_codes:
            query["menu_item_code"] = {"$in": menu_item_codes}
        if statuses is not None:
            query["status"] = {"$in": statuses}
        cursor = self._db.requests.find(query, INTERNAL_FIELDS).sort(
            [("submitted_at", DESCENDING), ("_id", DESCENDING)]
        )
        return [document async for document in cursor.limit(limit)]
