"""Webhook endpoints and the durable delivery queue, in MongoDB; every query starts from the district."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import Document

PENDING, DELIVERING, DELIVERED, PARKED = "pending", "delivering", "delivered", "parked"


class WebhookEndpointRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._endpoints = db.webhook_endpoints

    async def ensure_indexes(self) -> None:
        await self._endpoints.create_index([("district_id", ASCENDING), ("active", ASCENDING)])

    async def create(
        self,
        *,
        district_id: str,
        url: str,
        event_types: list[str],
        description: str,
        created_by: str,
        owner_key_id: str,
    ) -> Document:
        document: Document = {
            "_id": "wh_" + uuid.uuid4().hex[:16],
            "district_id": district_id,
            "url": url,
            "event_types": sorted(set(event_types)),
            "description": description,
            "secret": "whsec_" + secrets.token_urlsafe(32),
            "active": True,
            "created_by": created_by,
            "owner_key_id": owner_key_id,
            "created_at": datetime.now(UTC),
        }
        await self._endpoints.insert_one(document)
        return document

    # `owner`: the key id a caller is limited to (a client app sees only the endpoints it registered);
    # None for district and platform admins, who manage every endpoint of the district.

    async def active(self, district_id: str, *, owner: str | None = None) -> list[Document]:
        query: Document = {"district_id": district_id, "active": True}
        if owner is not None:
            query["owner_key_id"] = owner
        # Sorted here: a district has a handful of endpoints, and FerretDB sorts in Go over what it reads.
        found = [document async for document in self._endpoints.find(query)]
        return sorted(found, key=lambda document: document["created_at"])

    async def get(self, district_id: str, endpoint_id: str, *, owner: str | None = None) -> Document | None:
        query: Document = {"_id": endpoint_id, "district_id": district_id, "active": True}
        if owner is not None:
            query["owner_key_id"] = owner
        return await self._endpoints.find_one(query)

    async def deactivate(self, district_id: str, endpoint_id: str, *, owner: str | None = None) -> bool:
        if await self.get(district_id, endpoint_id, owner=owner) is None:
            return False
        result = await self._endpoints.update_one(
            {"_id": endpoint_id, "district_id": district_id, "active": True}, {"$set": {"active": False}}
        )
        return result.modified_count == 1

    async def subscribed_to(self, district_id: str, event_type: str) -> list[Document]:
        return [
            document
            for document in await self.active(district_id)
            if not document["event_types"] or event_type in document["event_types"]
        ]


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class DeliveryRepository:
    """One document per (endpoint, event): enqueueing twice is harmless, claiming an attempt is atomic.

    Every read is by `_id` or an indexed equality: the worker keeps due times in memory and reads a delivery
    by `_id` when its timer fires; `recoverable` (pending and in-flight deliveries, a set that does not grow
    with history) is read only when this replica's share of the partitions changes.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db.webhook_deliveries
        self._claims = db.webhook_claims

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("state", ASCENDING)])
        await self._deliveries.create_index([("day", ASCENDING), ("state", ASCENDING)])
        await self._deliveries.create_index(
            [("district_id", ASCENDING), ("endpoint_id", ASCENDING), ("state", ASCENDING)]
        )

    async def enqueue(self, *, endpoint: Document, event_id: str, event_type: str, body: str) -> Document | None:
        """The new delivery, or None when it was queued before (a redelivered event)."""
        now = datetime.now(UTC)
        document: Document = {
            "_id": f"{endpoint['_id']}:{event_id}",
            "district_id": endpoint["district_id"],
            "endpoint_id": endpoint["_id"],
            "event_id": event_id,
            "event_type": event_type,
            "body": body,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_until": None,
            "created_at": now,
            "day": day_of(now),
            "last_error": None,
            "last_status": None,
        }
        try:
            await self._deliveries.insert_one(document)
        except DuplicateKeyError:
            return None
        return document

    async def recoverable(self) -> list[Document]:
        """Deliveries waiting for an attempt or in flight (perhaps on a replica that died)."""
        found: list[Document] = []
        for state in (PENDING, DELIVERING):
            found += [document async for document in self._deliveries.find({"state": state})]
        return found

    async def claim(self, delivery_id: str, *, lease_seconds: float) -> tuple[Document, str] | datetime | None:
        """Take the delivery's next attempt if it is due (or its lease expired).

        Returns the delivery and the claim's id; or the time the attempt falls due (not yet); or None when
        there is nothing to attempt (delivered, parked, gone, or another replica won this attempt).

        FerretDB v1 neither makes a conditional update atomic across connections nor keeps concurrent
        updates of one document from overwriting each other, so a replica must not touch a delivery it
        has not won: it first inserts a claim named after the delivery's current state (a unique _id, which
        is atomic on FerretDB and MongoDB alike), and only the winner then writes the delivery.
        """
        now = datetime.now(UTC)
        candidate = await self._deliveries.find_one({"_id": delivery_id})
        if candidate is None:
            return None
        if candidate["state"] == PENDING:
            marker = candidate["next_attempt_at"]
        elif candidate["state"] == DELIVERING and candidate.get("lease_until") is not None:
            marker = candidate["lease_until"]
        else:
            return None
        if marker > now:
            return marker  # type: ignore[no-any-return]
        claim_id = f"{candidate['_id']}:{candidate['state']}:{candidate.get('attempts', 0)}:{marker.isoformat()}"
        if not await self._insert_claim(claim_id, now, lease_seconds):
            return None
        lease_until = now + timedelta(seconds=lease_seconds)
        await self._deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"state": DELIVERING, "lease_until": lease_until}}
        )
        return {**candidate, "state": DELIVERING, "lease_until": lease_until}, claim_id

    async def _insert_claim(self, claim_id: str, now: datetime, lease_seconds: float) -> bool:
        try:
            await self._claims.insert_one({"_id": claim_id, "created_at": now})
            return True
        except DuplicateKeyError:
            pass
        # A claim older than a lease was left by a replica that stopped between claiming and writing the
        # delivery: the delivery still shows that state, so without this it would never be attempted again.
        # The delete names the claim's time, so of two replicas finding the orphan only one removes it.
        existing = await self._claims.find_one({"_id": claim_id})
        if existing is None or existing["created_at"] > now - timedelta(seconds=lease_seconds):
            return False
        removed = await self._claims.delete_one({"_id": claim_id, "created_at": existing["created_at"]})
        if removed.deleted_count != 1:
            return False
        try:
            await self._claims.insert_one({"_id": claim_id, "created_at": now})
        except DuplicateKeyError:
            return False
        return True

    async def release(self, claim_id: str) -> None:
        """Drop a claim once its attempt's outcome is written: the delivery's state no longer matches it."""
        await self._claims.delete_one({"_id": claim_id})

    async def succeeded(self, delivery_id: str, status: int) -> None:
        await self._deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": {"state": DELIVERED, "last_status": status, "delivered_at": datetime.now(UTC)},
                "$inc": {"attempts": 1},
            },
        )

    async def failed(self, delivery_id: str, *, error: str, status: int | None, retry_in: float | None) -> None:
        """Schedule the next attempt, or park when `retry_in` is None."""
        now = datetime.now(UTC)
        fields: dict[str, Any] = {"last_error": error[:500], "last_status": status, "lease_until": None}
        if retry_in is None:
            fields |= {"state": PARKED, "parked_at": now}
        else:
            fields |= {"state": PENDING, "next_attempt_at": now + timedelta(seconds=retry_in)}
        await self._deliveries.update_one({"_id": delivery_id}, {"$set": fields, "$inc": {"attempts": 1}})

    async def of_endpoint(
        self, district_id: str, endpoint_id: str, state: str | None, limit: int = 100
    ) -> list[Document]:
        query: dict[str, Any] = {"district_id": district_id, "endpoint_id": endpoint_id}
        if state:
            query["state"] = state
        # No sort in the query (FerretDB would sort every delivery of the endpoint in Go): the first `limit`
        # found by the indexed equality, oldest first.
        found = [document async for document in self._deliveries.find(query, limit=limit)]
        return sorted(found, key=lambda document: document["created_at"])

    async def replay(self, district_id: str, endpoint_id: str, delivery_id: str | None = None) -> list[Document]:
        """Put parked deliveries (one, or all of the endpoint) back in the queue with a fresh budget."""
        query: dict[str, Any] = {"district_id": district_id, "endpoint_id": endpoint_id, "state": PARKED}
        if delivery_id is not None:
            query["_id"] = delivery_id
        replayed: list[Document] = []
        async for parked in self._deliveries.find(query):
            fields = {"state": PENDING, "attempts": 0, "next_attempt_at": datetime.now(UTC)}
            result = await self._deliveries.update_one({"_id": parked["_id"], "state": PARKED}, {"$set": fields})
            if result.modified_count:
                replayed.append({**parked, **fields})
        return replayed

    async def expire(self, older_than: timedelta, *, days_back: int = 30) -> int:
        """Delete delivered deliveries of the days before `older_than`, one indexed equality per day."""
        newest = datetime.now(UTC) - older_than
        removed = 0
        for back in range(1, days_back + 1):
            day = day_of(newest - timedelta(days=back))
            result = await self._deliveries.delete_many({"day": day, "state": DELIVERED})
            removed += result.deleted_count
        return removed
