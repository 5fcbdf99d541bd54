"""The console's reads; every query starts from the operator's district, and reads by `_id` or an equality.

The board and the rates are read models dispatch maintains (`district_boards`, `rates_monthly`): a dashboard
read costs the same few `_id` reads whatever the district's history (the rates: one per month of the window).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

BOARD_COLLECTION = "district_boards"
MONTHLY_COLLECTION = "rates_monthly"
# Operators see who asked, but never the phone number in lists.
DETAIL_EXCLUDED = {"processed_event_ids": 0, "outbox": 0, "resident.phone": 0, "resident_phone": 0}
PROFILE_FIELDS = {"_id": 1, "name": 1, "grid_id": 1, "community_id": 1, "capacity": 1, "active": 1, "on_duty": 1}


class ConsoleRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def district(self, district_id: str) -> Document | None:
        return await self._db.districts.find_one({"_id": district_id})

    async def board(self, district_id: str) -> Document | None:
        """The district's live board as dispatch last wrote it (none before its first request)."""
        return await self._db[BOARD_COLLECTION].find_one({"_id": district_id})

    async def monthly_rates(self, district_id: str, months: Iterable[str], group_by: str) -> list[Document]:
        """One document per month of the window, each by `_id`; months without requests have none."""
        ids = [f"{district_id}:{month}:{group_by}" for month in months]
        found = await asyncio.gather(*(self._db[MONTHLY_COLLECTION].find_one({"_id": i}) for i in ids))
        return [document for document in found if document is not None and document.get("district_id") == district_id]

    async def request(self, district_id: str, request_id: str) -> Document | None:
        return await self._db.requests.find_one({"_id": request_id, "district_id": district_id}, DETAIL_EXCLUDED)

    async def volunteers(self, district_id: str) -> list[Document]:
        """The roster's profiles (the admin's `volunteers`, an equality on the district): the roster, not history."""
        profiles = await self._db.volunteers.find({"district_id": district_id}, PROFILE_FIELDS).to_list()
        return sorted(profiles, key=lambda p: (str(p.get("grid_id") or ""), str(p["_id"])))

    async def count(self, collection: str, query: dict[str, Any]) -> int:
        return await self._db[collection].count_documents(query)
