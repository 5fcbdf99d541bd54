"""Scheduled care on the real database: dispatch's care writes (cursors, log, rates) fenced and restored by
one equality, and the care API over them (a household's log, rates per grid and volunteer)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.care_api import CareReads, add_care_routes
from services.dispatch.care_rates import rate_id
from services.dispatch.store import DispatchStore, Fenced
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document

pytestmark = pytest.mark.integration
D = "chengzhong"


@pytest.fixture
async def care_db(mongo_client: AsyncMongoClient[Document], run_id: str) -> AsyncIterator[AsyncDatabase[Document]]:
    name = f"grid_test_{run_id}_care_{uuid.uuid4().hex[:6]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


def entry(n: int, at: datetime, resident_id: str = "res-1") -> Document:
    return {
        "_id": f"care:p1:2026-12-0{n}:0",
        "district_id": D,
        "resident_id": resident_id,
        "plan_id": "p1",
        "kind": "visit",
        "day": f"2026-12-0{n}",
        "request_id": f"care:p1:2026-12-0{n}",
        "grid_id": "g1",
        "at": at,
        "by": "volunteer:v1",
        "entry": "visit",
        "volunteer_id": "v1",
        "outcome": "fine",
        "note": "好",
    }


async def test_care_writes_are_restored_by_district_and_a_stale_owner_is_fenced(
    care_db: AsyncDatabase[Document],
) -> None:
    store = DispatchStore(care_db)
    await store.ensure_indexes()
    await care_db.care_plans.insert_one({"_id": "p1", "district_id": D, "grid_id": "g1", "kind": "visit"})
    old = await store.claim("t:0", "a")
    new = await store.claim("t:0", "b")
    cursor = {"_id": "p1", "district_id": D, "done_through": "2026-12-01", "not_before": datetime.now(UTC)}
    at = datetime(2026, 12, 1, 2, tzinfo=UTC)
    increments = {"check_ins": 1, "on_time": 1}
    key = rate_id(D, "grid", "g1", "2026-12")
    fields = {"district_id": D, "scope": "grid", "subject": "g1", "month": "2026-12"}
    await store.write_care(new, [cursor], [entry(1, at)], [(key, fields, increments)])
    await store.write_care(new, [], [], [(key, fields, increments)])

    restored = await store.restore(D)
    assert [p["_id"] for p in restored.care_plans] == ["p1"]
    assert [c["done_through"] for c in restored.care_cursors] == ["2026-12-01"]
    rates = await care_db.care_rates.find_one({"_id": key})
    assert rates is not None and (rates["check_ins"], rates["on_time"]) == (2, 2)
    with pytest.raises(Fenced):
        await store.write_care(old, [{**cursor, "done_through": "2026-11-01"}], [], [])
    (kept,) = (await store.restore(D)).care_cursors
    assert kept["done_through"] == "2026-12-01"


async def test_care_api_serves_a_households_log_and_the_rates_in_its_district_only(
    care_db: AsyncDatabase[Document],
) -> None:
    await DispatchStore(care_db).ensure_indexes()
    at = datetime(2026, 12, 1, 2, tzinfo=UTC)
    await care_db.care_log.insert_many([entry(1, at), entry(2, at + timedelta(days=1)), entry(3, at, "res-2")])
    await care_db.care_log.insert_one({**entry(4, at), "district_id": "another"})
    await care_db.care_rates.insert_one(
        {
            "_id": rate_id(D, "grid", "g1", "2026-12"),
            "district_id": D,
            "check_ins": 4,
            "on_time": 3,
            "missed": 1,
            "welfare_assigned": 1,
            "welfare_seconds_to_assign": 90,
        }
    )
    keys = ApiKeyRepository(care_db)
    app = FastAPI()
    add_care_routes(app, CareReads(care_db), keys)
    operator = {"X-API-Key": await keys.create(district_id=D, role=Role.OPERATOR, subject="t")}
    stranger = {"X-API-Key": await keys.create(district_id="another", role=Role.OPERATOR, subject="t")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dispatch") as client:
        log = await client.get(f"/v1/districts/{D}/residents/res-1/care-log", headers=operator)
        assert log.status_code == 200
        assert [e["day"] for e in log.json()["entries"]] == ["2026-12-02", "2026-12-01"]  # newest first, res-1 only
        rates = await client.get(
            f"/v1/districts/{D}/care/rates", params={"grid_id": "g1", "month": "2026-12"}, headers=operator
        )
        body = rates.json()
        assert (body["on_time_rate"], body["missed_rate"], body["mean_seconds_to_welfare_check"]) == (0.75, 0.25, 90)
        none = await client.get(
            f"/v1/districts/{D}/care/rates", params={"volunteer_id": "v9", "month": "2026-12"}, headers=operator
        )
        assert none.json()["on_time_rate"] is None
        assert (await client.get(f"/v1/districts/{D}/residents/res-1/care-log", headers=stranger)).status_code == 404
        assert (await client.get(f"/v1/districts/{D}/care/rates", headers=operator)).status_code == 422
