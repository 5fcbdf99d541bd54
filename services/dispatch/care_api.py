"""Scheduled care over HTTP (dispatch's API, port 8001): a household's care log and the care rates.

Reads only by one equality an index serves (`care_log` by `resident_id`) or by `_id` (`care_rates`), both
written by dispatch (`services/dispatch/care.py`, `care_rates.py`). Operators and district admins of the
district in the path; another district's key sees 404.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.audit import in_district, staff_principal
from services.dispatch.care_rates import FIELDS, rate_id
from shared.api_keys import ApiKeyRepository, Principal
from shared.mongo import Document

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class CareLogEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    entry: str  # visit, confirmed, missed
    request_id: str
    plan_id: str
    kind: str | None = None
    day: str | None = None
    by: str | None = None
    volunteer_id: str | None = None
    outcome: str | None = None
    note: str | None = None
    reason: str | None = None
    how: str | None = None
    need: dict[str, Any] | None = None
    filed_request_id: str | None = None


class CareLogView(BaseModel):
    model_config = ConfigDict(frozen=True)

    district_id: str
    resident_id: str
    entries: list[CareLogEntry]


class CareRatesView(BaseModel):
    model_config = ConfigDict(frozen=True)

    district_id: str
    scope: str
    subject: str
    month: str
    counts: dict[str, float]
    on_time_rate: float | None
    missed_rate: float | None
    mean_seconds_to_welfare_check: float | None


class CareReads:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def log(self, district_id: str, resident_id: str) -> list[Document]:
        found = await self._db.care_log.find({"resident_id": resident_id}).to_list()
        return [d for d in found if d.get("district_id") == district_id]

    async def rates(self, key: str) -> Document | None:
        return await self._db.care_rates.find_one({"_id": key})


def rates_view(district_id: str, scope: str, subject: str, month: str, stored: Document | None) -> CareRatesView:
    counts = {name: float((stored or {}).get(name, 0)) for name in FIELDS}
    check_ins, welfare = counts["check_ins"], counts["welfare_assigned"]
    return CareRatesView(
        district_id=district_id,
        scope=scope,
        subject=subject,
        month=month,
        counts=counts,
        on_time_rate=counts["on_time"] / check_ins if check_ins else None,
        missed_rate=counts["missed"] / check_ins if check_ins else None,
        mean_seconds_to_welfare_check=counts["welfare_seconds_to_assign"] / welfare if welfare else None,
    )


def add_care_routes(app: FastAPI, reads: CareReads, keys: ApiKeyRepository) -> None:
    principal = staff_principal(keys)

    @app.get("/v1/districts/{district_id}/residents/{resident_id}/care-log", response_model=CareLogView)
    async def care_log(
        district_id: str,
        resident_id: str,
        caller: Annotated[Principal, Depends(principal)],
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> CareLogView:
        """The household's visit log (走访记录): visits, confirmations and missed check-ins, newest first."""
        in_district(caller, district_id)
        entries = sorted(await reads.log(district_id, resident_id), key=lambda e: e["at"], reverse=True)
        return CareLogView(
            district_id=district_id,
            resident_id=resident_id,
            entries=[CareLogEntry.model_validate(e) for e in entries[:limit]],
        )

    @app.get("/v1/districts/{district_id}/care/rates", response_model=CareRatesView)
    async def care_rates(
        district_id: str,
        caller: Annotated[Principal, Depends(principal)],
        month: Annotated[str | None, Query(pattern=MONTH, description="YYYY-MM, local; this month by default")] = None,
        grid_id: Annotated[str | None, Query(max_length=64)] = None,
        volunteer_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> CareRatesView:
        """On-time and missed check-ins, scheduled work done, and time to a welfare check, of a grid or volunteer."""
        in_district(caller, district_id)
        if (grid_id is None) == (volunteer_id is None):
            raise HTTPException(422, "give exactly one of grid_id or volunteer_id")
        scope, subject = ("grid", grid_id) if grid_id else ("volunteer", volunteer_id)
        assert subject is not None
        month = month or datetime.now(UTC).strftime("%Y-%m")
        stored = await reads.rates(rate_id(district_id, scope, subject, month))
        return rates_view(district_id, scope, subject, month, stored)
