"""Requests end to end: intake → Kafka → dispatch (offer, accept, work, resolve) → MongoDB → Kafka → notify (SSE)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared import reference_versions
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts.commands import OFFER_ACCEPT, WORK_COMPLETE, WORK_START
from shared.mongo import Document
from shared.request_ids import mint_request_id
from shared.settings import PlatformSettings
from tests.e2e.dispatch.kafka_commands import command, publish, volunteer, wait_until
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


OPERATOR_KEYS: dict[str, str] = {}


async def operator_headers(db: AsyncDatabase[Document]) -> dict[str, str]:
    """Intake authenticates callers; an operator of the demo district files requests for residents."""
    if "chengzhong" not in OPERATOR_KEYS:
        OPERATOR_KEYS["chengzhong"] = await ApiKeyRepository(db).create(
            district_id="chengzhong", role=Role.OPERATOR, subject="e2e-desk"
        )
    return {"X-API-Key": OPERATOR_KEYS["chengzhong"]}


@pytest.fixture(autouse=True)
async def intake_key(db: AsyncDatabase[Document]) -> None:
    await operator_headers(db)


async def submit(intake: ServiceProcess, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    headers |= {"X-API-Key": OPERATOR_KEYS["chengzhong"]} if "chengzhong" in OPERATOR_KEYS else {}
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        return await client.post("/v1/districts/chengzhong/requests", json=body, headers=headers)


async def test_request_is_offered_accepted_started_and_resolved(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document], platform_settings: PlatformSettings
) -> None:
    response = await submit(services["intake"], groceries())

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "submitted"
    assert accepted["events_url"].startswith(services["notify"].url)
    request_id = accepted["request_id"]
    document = await wait_until(db, request_id, lambda d: d["status"] == "offered")
    events = document["timeline"]
    assert [event["type"] for event in events] == ["request.received", "request.matching", "request.offered"]
    assert [event["data"]["sequence"] for event in events] == [1, 2, 3]
    offered = events[-1]
    assert offered["district_id"] == "chengzhong"
    volunteer_id = offered["data"]["volunteer_id"]
    assert offered["data"]["volunteer_ids"] == [volunteer_id]
    assert offered["data"]["level"] == "grid" and offered["data"]["community_id"] == "xianggelila"
    roster = await db.volunteers.find_one({"_id": volunteer_id})
    assert roster is not None and roster["grid_id"] == "xgll-01" and "errand" in roster["skills"]
    load = await db.volunteer_load.find_one({"_id": volunteer_id}) or {}
    load_before = load.get("open_assignments", 0)

    await publish(
        platform_settings, [command(request_id, OFFER_ACCEPT, volunteer(volunteer_id), volunteer_id=volunteer_id)]
    )
    assigned = await wait_until(db, request_id, lambda d: d["status"] == "assigned")
    assert assigned["assigned_volunteer_id"] == volunteer_id
    on_duty = await db.volunteer_load.find_one({"_id": volunteer_id})
    assert on_duty is not None and on_duty["open_assignments"] == load_before + 1

    await publish(
        platform_settings,
        [
            command(request_id, WORK_START, volunteer(volunteer_id), volunteer_id=volunteer_id),
            command(request_id, WORK_COMPLETE, volunteer(volunteer_id), volunteer_id=volunteer_id, note="送到了"),
        ],
    )
    resolved = await wait_until(db, request_id, lambda d: d["status"] == "resolved")
    assert [e["type"] for e in resolved["timeline"]][-3:] == ["request.assigned", "request.started", "request.resolved"]
    off_duty = await db.volunteer_load.find_one({"_id": volunteer_id})
    assert off_duty is not None and off_duty["open_assignments"] == load_before

    async with httpx.AsyncClient(timeout=10) as client:
        status = (await client.get(accepted["status_url"], headers=await operator_headers(db))).json()
    assert status["status"] == "resolved"
    assert status["assigned_volunteer_id"] == volunteer_id
    assert "outbox" not in status


async def test_accepting_an_offer_one_does_not_hold_is_rejected_with_the_reason(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document], platform_settings: PlatformSettings
) -> None:
    accepted = (await submit(services["intake"], groceries("xgll-02"))).json()
    request_id = accepted["request_id"]
    offered = await wait_until(db, request_id, lambda d: d["status"] == "offered")
    outsider = "v-liu-fang"  # a volunteer of another community
    assert outsider not in offered["offered_volunteer_ids"]

    await publish(platform_settings, [command(request_id, OFFER_ACCEPT, volunteer(outsider), volunteer_id=outsider)])

    document = await wait_until(db, request_id, lambda d: d["timeline"][-1]["type"] == "request.command_rejected")
    rejected = document["timeline"][-1]["data"]
    assert rejected["status"] == "offered"
    assert "holds no open offer" in rejected["reason"]
    assert rejected["actor"] == f"volunteer:{outsider}"
    assert (await db.requests.find_one({"_id": request_id}) or {})["status"] == "offered"


async def test_reconnecting_with_last_event_id_skips_what_was_seen(services: dict[str, ServiceProcess]) -> None:
    accepted = (await submit(services["intake"], groceries())).json()
    first = await read_events(accepted["events_url"], until_type="request.offered")

    resumed = await read_events(
        accepted["events_url"], until_type="request.offered", headers={"Last-Event-ID": first[0].id}
    )

    assert [event.id for event in resumed] == [event.id for event in first[1:]]


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
    assert [event["type"] for event in document["timeline"]] == [
        "request.received",
        "request.matching",
        "request.offered",
    ]
    assert await db.requests.count_documents({"_id": first.json()["request_id"]}) == 1


async def test_grid_without_volunteers_escalates_to_its_community_at_once(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document]
) -> None:
    await db.grids.update_one(
        {"_id": "empty-grid"},
        {"$set": {"district_id": "chengzhong", "community_id": "xianggelila", "street_office_id": "renminjie"}},
        upsert=True,
    )
    # As the admin does after every write: intake keeps grids in memory and re-reads them on this token.
    await reference_versions.bump(db, "grids", ["chengzhong"])
    for _ in range(50):
        response = await submit(services["intake"], groceries("empty-grid"))
        if response.status_code != 422:
            break
        await asyncio.sleep(0.2)
    accepted = response.json()

    document = await wait_until(db, accepted["request_id"], lambda d: d["status"] == "offered")
    events = document["timeline"]

    escalated = next(e["data"] for e in events if e["type"] == "request.escalated")
    assert escalated["level"] == "community"
    assert escalated["reason"] == "no candidate left at grid level"
    assert escalated["detail"]["responsible_role"] == "community_director"
    assert escalated["critical"] is True
    offered = events[-1]["data"]
    assert offered["level"] == "community"
    volunteer_doc = await db.volunteers.find_one({"_id": offered["volunteer_id"]})
    assert volunteer_doc is not None and volunteer_doc["community_id"] == "xianggelila"


async def test_status_of_accepted_but_unprocessed_request_is_submitted(
    services: dict[str, ServiceProcess], platform_env: dict[str, str], db: AsyncDatabase[Document]
) -> None:
    issued = mint_request_id(platform_env["GRID_ID_SIGNING_KEY"].encode(), "chengzhong")
    forged = uuid.uuid4().hex

    headers = await operator_headers(db)
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=10, headers=headers) as client:
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
        ({**groceries(), "resident_name": ""}, "resident_name"),
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


async def test_unknown_district_is_404(services: dict[str, ServiceProcess], db: AsyncDatabase[Document]) -> None:
    headers = await operator_headers(db)
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=10, headers=headers) as client:
        response = await client.post("/v1/districts/atlantis/requests", json=groceries())

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
