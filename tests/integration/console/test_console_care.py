"""The console's care tab on the real database: plans per grid, today's occurrences by their derived ids,
a missed check-in with its welfare check, and another district's operator seeing none of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.domain.care import occurrence_request_id, welfare_check_id
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def plan(district_id: str, plan_id: str, weekdays: list[int], grid_id: str = "g1") -> Document:
    return {
        "_id": plan_id,
        "district_id": district_id,
        "resident_id": f"{district_id}-res",
        "grid_id": grid_id,
        "community_id": "c1",
        "kind": "check_in",
        "schedule": {"starts_on": "2026-01-01", "weekdays": weekdays, "window_start": "00:00", "window_end": "00:01"},
        "volunteer_id": "v1",
        "alert": [{"role": "building_leader", "name": "马阿姨", "phone": "+8613800005678"}],
        "active": True,
    }


@pytest.fixture(scope="module")
async def district(db: AsyncDatabase[Document]) -> AsyncIterator[str]:
    district_id = f"care-{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    await db.districts.insert_one(
        {"_id": district_id, "name_zh": "测试区", "name_en": "Care", "timezone": "Asia/Shanghai"}
    )
    await db.residents.insert_one({"_id": f"{district_id}-res", "district_id": district_id, "name": "王大爷"})
    plans = [
        plan(district_id, f"{district_id}-daily", list(range(7))),
        plan(district_id, f"{district_id}-never-today", [(today.weekday() + 1) % 7], grid_id="g2"),
    ]
    await db.care_plans.insert_many(plans)
    check_in = occurrence_request_id(plans[0]["_id"], today)
    missed_at = datetime.now(UTC) - timedelta(minutes=5)
    await db.requests.insert_many(
        [
            {
                "_id": check_in,
                "district_id": district_id,
                "status": "expired",
                "priority": "normal",
                "care": {
                    "plan_id": plans[0]["_id"],
                    "missed_at": missed_at,
                    "missed_reason": "no_answer",
                    "welfare_request_id": welfare_check_id(check_in),
                },
            },
            {
                "_id": welfare_check_id(check_in),
                "district_id": district_id,
                "status": "offered",
                "priority": "critical",
                "care": {"kind": "welfare", "for_request_id": check_in},
            },
        ]
    )
    yield district_id
    await db.requests.delete_many({"district_id": district_id})
    await db.care_plans.delete_many({"district_id": district_id})
    await db.residents.delete_many({"district_id": district_id})
    await db.districts.delete_one({"_id": district_id})


async def key_for(db: AsyncDatabase[Document], district_id: str) -> dict[str, str]:
    return {"X-API-Key": await ApiKeyRepository(db).create(district_id=district_id, role=Role.OPERATOR, subject="t")}


async def test_plans_are_listed_per_grid_with_the_household(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    headers = await key_for(db, district)
    every = (await console.get("/console/api/care/plans", headers=headers)).json()["plans"]
    assert [p["plan_id"] for p in every] == [f"{district}-daily", f"{district}-never-today"]
    assert every[0]["resident_name"] == "王大爷" and every[0]["alert"][0]["role"] == "building_leader"
    g2 = (await console.get("/console/api/care/plans", params={"grid_id": "g2"}, headers=headers)).json()["plans"]
    assert [p["plan_id"] for p in g2] == [f"{district}-never-today"]


async def test_today_shows_the_missed_check_in_with_its_welfare_check_and_nothing_not_due(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get("/console/api/care/today", headers=await key_for(db, district))
    assert response.status_code == 200
    body = response.json()
    assert body["date"] == datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    (missed,) = body["missed"]
    assert missed["plan_id"] == f"{district}-daily" and missed["missed_reason"] == "no_answer"
    assert missed["welfare_status"] == "offered" and missed["welfare_request_id"].endswith(":welfare")
    assert body["due"] == []  # the other plan has no occurrence today


async def test_another_districts_operator_sees_none_of_it(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    other = await key_for(db, f"{district}-other")
    assert (await console.get("/console/api/care/plans", headers=other)).json()["plans"] == []
    today = (await console.get("/console/api/care/today", headers=other)).json()
    assert today["missed"] == [] and today["due"] == []
