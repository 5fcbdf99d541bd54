"""The admin's writes on the real database: an id that another district holds is never written over."""

from __future__ import annotations

import uuid

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.repository import IntakeRepository
from shared.mongo import Document

pytestmark = pytest.mark.integration


async def test_a_bulk_write_skips_the_id_of_another_district_and_writes_the_rest(db: AsyncDatabase[Document]) -> None:
    prefix = uuid.uuid4().hex[:8]
    held = {"_id": f"{prefix}-held", "district_id": "chengxi", "grid_id": "xyx-01", "phone": "+8613800000000"}
    await db.volunteers.insert_one(held)
    mine = {"_id": f"{prefix}-mine", "district_id": "chengzhong", "grid_id": "xgll-01"}
    await db.volunteers.insert_one(mine)

    # As if both checks passed a moment before another district created `held`: only the write can refuse it.
    outcomes = await IntakeRepository(db).write_references(
        "volunteers",
        [
            ({"_id": f"{prefix}-new", "district_id": "chengzhong", "grid_id": "xgll-01"}, False),
            ({"_id": f"{prefix}-held", "district_id": "chengzhong", "grid_id": "xgll-02", "name": "抢"}, False),
            ({**mine, "name": "改"}, True),
            ({"_id": f"{prefix}-gone", "district_id": "chengzhong", "grid_id": "xgll-01"}, True),  # deleted meanwhile
            ({"_id": f"{prefix}-after", "district_id": "chengzhong", "grid_id": "xgll-01"}, False),
        ],
    )

    assert outcomes == [True, None, False, True, True]
    assert await db.volunteers.find_one({"_id": f"{prefix}-held"}) == held
    stored = await db.volunteers.find_one({"_id": f"{prefix}-mine"})
    assert stored is not None and stored["name"] == "改"
    ids = [f"{prefix}-new", f"{prefix}-gone", f"{prefix}-after"]
    assert await db.volunteers.count_documents({"_id": {"$in": ids}}) == 3
