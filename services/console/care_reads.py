"""The console's reads of scheduled care: the district's plans (one equality an index serves), and today's
occurrences, each read by its derived `_id` (`care:<plan>:<local date>`), with the welfare check a missed
one opened. The cost follows the plans due today, never the history of occurrences."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, tzinfo
from typing import Final

from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.domain.care import CarePlan, PlanProblem, occurrence_on
from shared.mongo import Document

# Plans looked at per call: the care_plans of one district (reference data, not history).
PLANS_READ: Final = 2000
# Occurrence requests read per call, each by `_id`.
TODAY_READ: Final = 500
OCCURRENCE_FIELDS: Final = {
    "status": 1,
    "assigned_volunteer_id": 1,
    "offered_volunteer_ids": 1,
    "care": 1,
    "priority": 1,
    "level": 1,
}


class CareReads:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def plans(self, district_id: str, grid_id: str | None = None) -> list[Document]:
        query: Document = {"district_id": district_id, **({"grid_id": grid_id} if grid_id else {})}
        found = await self._db.care_plans.find(query).limit(PLANS_READ).to_list()
        return sorted(found, key=lambda p: (str(p.get("grid_id") or ""), str(p["_id"])))

    async def residents(self, district_id: str, ids: set[str]) -> dict[str, Document]:
        """Names of the households, each by `_id` (absent ones are simply not named)."""
        found = await asyncio.gather(
            *(self._db.residents.find_one({"_id": i}, {"name": 1, "district_id": 1, "address": 1}) for i in ids)
        )
        return {d["_id"]: d for d in found if d is not None and d.get("district_id") == district_id}

    async def requests(self, district_id: str, ids: list[str]) -> dict[str, Document]:
        found = await asyncio.gather(
            *(self._db.requests.find_one({"_id": i}, {**OCCURRENCE_FIELDS, "district_id": 1}) for i in ids)
        )
        return {d["_id"]: d for d in found if d is not None and d.get("district_id") == district_id}


def due_today(plans: list[Document], today: date, tz: tzinfo) -> list[tuple[Document, datetime, datetime, str]]:
    """(plan, window start, window end, occurrence id) of each plan with an occurrence on the local date."""
    due = []
    for document in plans:
        try:
            plan = CarePlan.of(document)
        except PlanProblem:
            continue
        if plan.active and plan.cadence.on(today):
            occurrence = occurrence_on(plan, today, tz)
            due.append((document, occurrence.starts_at, occurrence.ends_at, occurrence.request_id))
    return sorted(due, key=lambda d: (d[1], d[3]))[:TODAY_READ]
