"""The console's API on the real database: the rates for a known data set, CSV, health, tenancy."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.read_models import backfill
from services.dispatch.read_models.board import BOARD_COLLECTION, BoardState
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.unit.console.test_rates import DATA, WINDOW

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def district(db: AsyncDatabase[Document]) -> AsyncIterator[str]:
    """A district of its own holding exactly the hand-computed data set of the unit tests."""
    district_id = f"rates-{uuid.uuid4().hex[:8]}"
    await db.districts.insert_one({"_id": district_id, "name_zh": "测试区", "name_en": "Rates district"})
    documents = [{**d, "_id": uuid.uuid4().hex, "district_id": district_id} for d in DATA]
    await db.requests.insert_many(documents)
    # The read models dispatch keeps as it applies events, built here at once from the same documents.
    await backfill.rebuild(db, district_id, documents)
    yield district_id
    await db.requests.delete_many({"district_id": district_id})


async def key_for(db: AsyncDatabase[Document], district_id: str, role: Role = Role.OPERATOR) -> dict[str, str]:
    return {"X-API-Key": await ApiKeyRepository(db).create(district_id=district_id, role=role, subject="test")}


def window() -> dict[str, str]:
    return {"start": WINDOW["start"].isoformat(), "end": WINDOW["end"].isoformat()}


async def test_rates_per_community_are_the_hand_computed_ones(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get(
        "/console/api/rates", params={"group_by": "community", **window()}, headers=await key_for(db, district)
    )

    assert response.status_code == 200
    rows: dict[str, dict[str, Any]] = {row["group"]: row for row in response.json()["rows"]}
    assert set(rows) == {"a", "b"}
    a = rows["a"]
    assert (a["received"], a["response_rate"], a["resolution_rate"]) == (5, 0.8, 0.6)
    assert a["satisfaction_rate"] == pytest.approx(0.6667)
    assert a["on_time_closure_rate"] == pytest.approx(0.6667)
    assert a["redo_rate"] == pytest.approx(0.3333)
    assert (a["median_minutes_to_assign"], a["median_minutes_to_resolve"]) == (25, 100)


async def test_rates_export_as_csv(console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str) -> None:
    response = await console.get(
        "/console/api/rates",
        params={"group_by": "district", "format": "csv", **window()},
        headers=await key_for(db, district),
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["group"] == district and row["received"] == "6"


async def test_another_districts_operator_sees_none_of_it(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    other = await key_for(db, "chengzhong")
    rates = await console.get("/console/api/rates", params={"group_by": "community", **window()}, headers=other)
    board = await console.get("/console/api/board", headers=other)
    some_request = await db.requests.find_one({"district_id": district})
    assert some_request is not None
    detail = await console.get(f"/console/api/requests/{some_request['_id']}", headers=other)

    assert {row["group"] for row in rates.json()["rows"]}.isdisjoint({"a", "b"})
    assert all(r["request_id"] != some_request["_id"] for r in board.json()["requests"])
    assert detail.status_code == 404
    assert detail.headers["content-type"] == "application/problem+json"


async def test_keys_without_console_rights_are_refused(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    volunteer = await key_for(db, district, Role.VOLUNTEER)

    assert (await console.get("/console/api/board")).status_code == 401
    assert (await console.get("/console/api/board", headers={"X-API-Key": "gsp_nope"})).status_code == 401
    assert (await console.get("/console/api/board", headers=volunteer)).status_code == 403


async def test_health_reports_lag_dead_letters_and_parked_webhooks(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get("/console/api/health", headers=await key_for(db, district))

    body = response.json()
    assert response.status_code == 200
    assert body["services"]["console"] is True
    assert isinstance(body["dead_letters"], int)
    assert body["parked_webhooks"] == 0
    assert isinstance(body["consumer_lag"], list)


async def test_actions_answer_503_problem_when_intake_is_unreachable(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.post(
        "/console/api/requests/r1/actions/escalate",
        json={"reason": "nobody answers"},
        headers=await key_for(db, district),
    )

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "intake-unavailable"


async def test_forwarded_ids_must_be_plain_path_segments(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get("/console/api/grids/..%2Fsecrets/menu", headers=await key_for(db, district))
    unknown_action = await console.post(
        "/console/api/requests/r1/actions/delete", json={}, headers=await key_for(db, district)
    )

    assert response.status_code in (404, 422)
    assert unknown_action.status_code == 422


async def test_volunteer_load_comes_from_dispatchs_board(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    busy, idle = f"{district}-busy", f"{district}-idle"
    await db.volunteers.insert_many(
        [
            # A legacy load field on the profile is not the load: dispatch keeps it in `volunteer_load`.
            {"_id": busy, "district_id": district, "name": "忙", "grid_id": "g", "capacity": 3, "open_assignments": 9},
            {"_id": idle, "district_id": district, "name": "闲", "grid_id": "g", "capacity": 2, "on_duty": False},
        ]
    )
    # The board (dispatch's read model of the district) carries the load its owner counts.
    load = [{"volunteer_id": busy, "grid_id": "g", "open_assignments": 2, "capacity": 3}]
    await db[BOARD_COLLECTION].update_one({"_id": district}, {"$set": {"board": json.dumps({"volunteer_load": load})}})

    response = await console.get("/console/api/board", headers=await key_for(db, district))
    other = await console.get("/console/api/board", headers=await key_for(db, "chengzhong"))

    volunteers = {v["volunteer_id"]: v for v in response.json()["volunteers"]}
    assert set(volunteers) == {busy, idle}
    assert (volunteers[busy]["open_assignments"], volunteers[busy]["capacity"]) == (2, 3)
    assert (volunteers[idle]["open_assignments"], volunteers[idle]["on_duty"]) == (0, False)
    assert not {busy, idle} & {v["volunteer_id"] for v in other.json()["volunteers"]}


async def test_the_board_lists_the_open_requests_with_their_counts(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get("/console/api/board", headers=await key_for(db, district))

    body = response.json()
    # DATA has open requests (assigned, matching) but none is live for dispatch: no `live_district_id`.
    assert response.status_code == 200
    assert body["requests"] == [] and body["counts"] == [] and body["open"] == 0


async def test_a_window_longer_than_a_year_is_refused(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get(
        "/console/api/rates",
        params={"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        headers=await key_for(db, district),
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_live_stream_answers_503_problem_when_notify_is_unreachable(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], district: str
) -> None:
    response = await console.get("/console/api/events", headers=await key_for(db, district))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "notify-unavailable"


async def test_the_board_is_dispatchs_read_model_with_overdue_rows_flagged(
    console: httpx.AsyncClient, db: AsyncDatabase[Document]
) -> None:
    district_id = f"board-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    live = [
        {"_id": "late", "status": "assigned", "level": "grid", "grid_id": "g1",
         "submitted_at": now - timedelta(hours=3), "sla_due_at": now - timedelta(minutes=5)},
        {"_id": "fresh", "status": "offered", "level": "community", "grid_id": "g2",
         "submitted_at": now, "sla_due_at": now + timedelta(hours=1)},
    ]  # fmt: skip
    live = [{**document, "district_id": district_id, "live_district_id": district_id} for document in live]
    state = BoardState(district_id)
    state.apply(live)
    await db[BOARD_COLLECTION].insert_one(state.document(now, 0))

    response = await console.get("/console/api/board", headers=await key_for(db, district_id))

    body = response.json()
    assert response.status_code == 200 and body["open"] == 2
    assert [(r["request_id"], r["overdue"]) for r in body["requests"]] == [("fresh", False), ("late", True)]
    assert [r["request_id"] for r in body["overdue"]] == ["late"]
    assert {(c["status"], c["level"], c["count"]) for c in body["counts"]} == {
        ("assigned", "grid", 1), ("offered", "community", 1),
    }  # fmt: skip
    assert body["load_per_grid"] == [{"grid_id": "g1", "open": 1}, {"grid_id": "g2", "open": 1}]
