"""An in-memory district for the maintainer's tests (no reference data is looked up by its projections)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.dispatch.district import District
from services.dispatch.handlers import Rules
from services.dispatch.reference import ReferenceCache
from services.dispatch.request import OfferDefaults


async def _nothing(_: object) -> None:
    return None


def district_of(district_id: str) -> District:
    return District(district_id, reference=ReferenceCache(_nothing), rules=Rules(OfferDefaults()), tz=ZoneInfo("UTC"))
