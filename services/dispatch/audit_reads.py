"""The audit API's reads: a request's decisions by `_id`, and assignments per volunteer of an area.

The fairness figure still aggregates the area's requests on every call; it belongs in a read model
maintained as decisions are made (the read-model issue), not on dispatch's state path.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document


class AuditReads:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def request(self, district_id: str, request_id: str) -> Document | None:
        document = await self._db.requests.find_one({"_id": request_id})
        return document if document is not None and document.get("district_id") == district_id else None

    async def assignments(
        self, *, district_id: str, area_field: str, area_id: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        """Assignments (accepted offers and operator overrides) per volunteer in [start, end)."""
        pipeline: list[Document] = [
            {"$match": {"district_id": district_id, area_field: area_id}},
            {"$unwind": "$decisions"},
            {
                "$match": {
                    "decisions.kind": {"$in": ["accept", "override"]},
                    "decisions.at": {"$gte": start, "$lt": end},
                }
            },
            {"$group": {"_id": "$decisions.chosen_volunteer_id", "count": {"$sum": 1}}},
        ]
        cursor = await self._db.requests.aggregate(pipeline)
        return {row["_id"]: int(row["count"]) async for row in cursor if row["_id"]}

    async def roster(self, district_id: str, area_field: str, area_id: str) -> list[str]:
        cursor = self._db.volunteers.find({"district_id": district_id, area_field: area_id}, {"_id": 1})
        return [document["_id"] async for document in cursor]
