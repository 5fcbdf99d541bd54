"""One request end to end: intake → Kafka → dispatch → MongoDB → Kafka → notify (SSE)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from shared.request_ids import mint_request_id
from tests.e2e.service_processes import ServiceProcess
from tests.e2e.sse_client import read_events

pytestmark = pytest.mark.e2e


def groceries(grid_id: str = "xgll-01", **overrides: Any) -> dict[str, Any]:
    body = {
        "menu_item_code": "errand.groceries",
        "grid_id": grid_id,
        "resident_name": "王仁柱",
        "resident_phone": "13800001234",
        "text": "十斤米，一桶油",
    }
    return {**body, **overrides}


async def wait_for_status(db: AsyncDatabase[Document], request_id: str, within: float = 20.0) -> Document:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        document = await db.requests.find_one({"_id": request_id})
        if document is not None and not document.get("outbox_pending"):
            return document
        await asyncio.sleep(0.2)
    raise AssertionError(f"request {request_id} was not processed within {within}s")


async def submit(intake: ServiceProcess, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        return await client.post("/v1/districts/chengzhong/requests", json=body, headers=headers)


async def test_submitted_request_is_assigned_and_seen_on_its_stream(services: dict[str, ServiceProcess]) -> None:
    response = await submit(services["intake"], groceries())

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "submitted"
    assert accepted["events_url"].startswith(services["notify"].url)
    events = await read_events(accepted["events_url"], until_type="request.assigned")
    assert [event.event for event in events] == ["request.received", "request.assigned"]
    assert [event.data["data"]["sequence"] for event in events] == [1, 2]
    assigned = events[-1].data
    assert assigned["request_id"] == accepted["request_id"]
    assert assigned["district_id"] == "chengzhong"
    assert assigned["data"]["volunteer_id"] == "v-li-jianguo"  # the grid's first active volunteer

    async with httpx.AsyncClient(timeout=10) as client:
        status = (await client.get(accepted["status_url"])).json()
    assert status["status"] == "assigned"
    assert status["assigned_volunteer_id"] == "v-li-jianguo"
    assert "resident" not in status and "outbox" not in status


async def test_reconnecting_with_last_event_id_skips_what_was_seen(services: dict[str, ServiceProcess]) -> None:
    accepted = (await submit(services["intake"], groceries())).json()
    first = await read_events(accepted["events_url"], until_type="request.assigned")

    resumed = await read_events(
        accepted["events_url"], until_type="request.assigned", headers={"Last-Event-ID": first[0].id}
    )

    assert [event.id for event in resumed] == [first[1].id]


async def test_same_idempotency_key_yields_one_request(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document]
) -> None:
    key = f"retry-{uuid.uuid4()}"
    first = await submit(services["intake"], groceries(), key)
    second = await submit(services["intake"], groceries(), key)
    other = await submit(services["intake"], groceries(), f"other-{uuid.uuid4()}")

    assert first.status_code == second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    assert other.json()["request_id"] != first.json()["request_id"]
    document = await wait_for_status(db, first.json()["request_id"])
    assert [event["type"] for event in document["timeline"]] == ["request.received", "request.assigned"]
    assert await db.requests.count_documents({"_id": first.json()["request_id"]}) == 1


async def test_grid_without_volunteers_reports_unassigned(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document]
) -> None:
    await db.grids.update_one(
        {"_id": "empty-grid"},
        {"$set": {"district_id": "chengzhong", "community_id": "xianggelila", "street_office_id": "renminjie"}},
        upsert=True,
    )
    accepted = (await submit(services["intake"], groceries("empty-grid"))).json()

    events = await read_events(accepted["events_url"], until_type="request.unassigned")

    assert events[-1].data["data"]["reason"] == "grid has no active volunteer"


async def test_status_of_accepted_but_unprocessed_request_is_submitted(
    services: dict[str, ServiceProcess], platform_env: dict[str, str]
) -> None:
    issued = mint_request_id(platform_env["GRID_ID_SIGNING_KEY"].encode(), "chengzhong")
    forged = uuid.uuid4().hex

    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=10) as client:
        pending = await client.get(f"/v1/districts/chengzhong/requests/{issued}")
        missing = await client.get(f"/v1/districts/chengzhong/requests/{forged}")
        other_district = await client.get(f"/v1/districts/chengxi/requests/{issued}")

    assert pending.status_code == 200
    assert pending.json()["status"] == "submitted"
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert other_district.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (groceries(grid_id="no-such-grid"), "grid_id"),
        (groceries(menu_item_code="errand.caviar"), "menu_item_code"),
        (groceries(resident_phone="call me"), "resident_phone"),
        ({**groceries(), "priority": "vip"}, "priority"),
        ({k: v for k, v in groceries().items() if k != "resident_name"}, "resident_name"),
    ],
)
async def test_invalid_submission_is_422_naming_the_field(
    services: dict[str, ServiceProcess], body: dict[str, Any], field: str
) -> None:
    response = await submit(services["intake"], body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert field in [error["field"] for error in problem["errors"]]


async def test_unknown_district_is_404(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=10) as client:
        response = await client.post("/v1/districts/atlantis/requests", json=groceries())

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
