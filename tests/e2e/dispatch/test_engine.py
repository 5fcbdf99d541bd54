"""Dispatch end to end on the real stack: offers, accept, work, the SLA ladder, and the audit API."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.contracts.commands import OFFER_ACCEPT, OFFER_DECLINE, WORK_COMPLETE, WORK_START
from shared.mongo import Document
from shared.settings import PlatformSettings
from tests.e2e.dispatch.fixtures import add_grid, add_menu_item, add_volunteer, submitted
from tests.e2e.dispatch.kafka_commands import command, publish, volunteer, wait_until
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e


def types(document: Document) -> list[str]:
    return [event["type"] for event in document["timeline"]]


async def test_offer_decline_accept_work_and_resolve(
    dispatcher: ServiceProcess, dispatch_db: AsyncDatabase[Document], dispatch_settings: PlatformSettings
) -> None:
    await add_grid(dispatch_db, "flow-grid", "xianggelila")
    for number in (1, 2):
        await add_volunteer(
            dispatch_db, dispatch_settings, f"v-flow-{number}", "flow-grid", "xianggelila", ["flow"], capacity=2
        )
    await add_menu_item(dispatch_db, "xianggelila", "test.flow", urgency="normal", required_skills=["flow"])
    event = submitted("flow-grid", "test.flow")
    request_id = event.request

    await publish(dispatch_settings, [event])
    offered = await wait_until(dispatch_db, request_id, lambda d: d["status"] == "offered")
    assert offered["offered_volunteer_ids"] == ["v-flow-1"]  # equal load and never assigned: id breaks the tie
    match = offered["decisions"][0]
    assert match["kind"] == "match"
    assert [c["volunteer_id"] for c in match["candidates"]] == ["v-flow-1", "v-flow-2"]
    assert offered["community_id"] == "xianggelila" and offered["level"] == "grid"

    await publish(
        dispatch_settings, [command(request_id, OFFER_DECLINE, volunteer("v-flow-1"), volunteer_id="v-flow-1")]
    )
    passed_on = await wait_until(dispatch_db, request_id, lambda d: d["offered_volunteer_ids"] == ["v-flow-2"])
    assert types(passed_on)[-2:] == ["request.offer_declined", "request.offered"]

    accept = command(request_id, OFFER_ACCEPT, volunteer("v-flow-2"), volunteer_id="v-flow-2")
    late = command(request_id, OFFER_ACCEPT, volunteer("v-flow-1"), volunteer_id="v-flow-1")
    await publish(dispatch_settings, [accept, accept, late])  # a redelivery and a withdrawn offer
    assigned = await wait_until(dispatch_db, request_id, lambda d: types(d)[-1] == "request.command_rejected")
    assert assigned["status"] == "assigned" and assigned["assigned_volunteer_id"] == "v-flow-2"
    assert types(assigned).count("request.assigned") == 1
    assert "holds no open offer" in assigned["timeline"][-1]["data"]["reason"]
    loaded = await dispatch_db.volunteer_load.find_one({"_id": "v-flow-2"})
    assert loaded is not None and loaded["open_assignments"] == 1 and loaded["last_assigned_at"] is not None

    await publish(
        dispatch_settings,
        [
            command(request_id, WORK_START, volunteer("v-flow-2"), volunteer_id="v-flow-2"),
            command(request_id, WORK_COMPLETE, volunteer("v-flow-2"), volunteer_id="v-flow-2"),
        ],
    )
    resolved = await wait_until(dispatch_db, request_id, lambda d: d["status"] == "resolved")
    assert types(resolved)[-2:] == ["request.started", "request.resolved"]
    assert [e["data"]["sequence"] for e in resolved["timeline"]] == list(range(1, len(resolved["timeline"]) + 1))
    freed = await dispatch_db.volunteer_load.find_one({"_id": "v-flow-2"})
    assert freed is not None and freed["open_assignments"] == 0

    keys = ApiKeyRepository(dispatch_db)
    operator = await keys.create(district_id="chengzhong", role=Role.OPERATOR, subject="desk-1")
    stranger = await keys.create(district_id="chengxi", role=Role.OPERATOR, subject="desk-9")
    async with httpx.AsyncClient(base_url=dispatcher.url, timeout=10) as client:
        audit = await client.get(
            f"/v1/districts/chengzhong/requests/{request_id}/decisions", headers={"X-API-Key": operator}
        )
        fairness = await client.get(
            "/v1/districts/chengzhong/fairness", params={"grid_id": "flow-grid"}, headers={"X-API-Key": operator}
        )
        other_district = await client.get(
            f"/v1/districts/chengzhong/requests/{request_id}/decisions", headers={"X-API-Key": stranger}
        )
        anonymous = await client.get("/v1/districts/chengzhong/fairness", params={"grid_id": "flow-grid"})
    assert audit.status_code == 200
    kinds = [(d["kind"], d["chosen_volunteer_id"]) for d in audit.json()["decisions"]]
    assert kinds == [("match", None), ("accept", "v-flow-2")]
    assert fairness.status_code == 200
    body = fairness.json()
    assert {v["volunteer_id"]: v["assignments"] for v in body["per_volunteer"]} == {"v-flow-1": 0, "v-flow-2": 1}
    assert body["spread"]["most"] == 1 and body["spread"]["fewest"] == 0 and body["spread"]["gini"] == 0.5
    assert other_district.status_code == 404
    assert anonymous.status_code == 401


async def test_unresponsive_grid_climbs_the_ladder_on_time(
    dispatcher: ServiceProcess, dispatch_db: AsyncDatabase[Document], dispatch_settings: PlatformSettings
) -> None:
    """Nobody answers: each level's 3-second accept clock passes and the request moves up, on time."""
    fast = {"accept_minutes": 0.05, "resolve_minutes": 1}
    deadlines = {level: fast for level in ("grid", "community", "street", "district")}
    for community in ("xianggelila", "renminjie-east"):
        await add_menu_item(
            dispatch_db,
            community,
            "test.ladder",
            urgency="high",
            required_skills=["ladder"],
            offer_timeout_seconds=60,
            deadlines=deadlines,
        )
    await add_grid(dispatch_db, "ladder-grid", "xianggelila")
    await add_volunteer(dispatch_db, dispatch_settings, "v-ladder-grid", "ladder-grid", "xianggelila", ["ladder"])
    await add_volunteer(dispatch_db, dispatch_settings, "v-ladder-community", "xgll-02", "xianggelila", ["ladder"])
    await add_volunteer(dispatch_db, dispatch_settings, "v-ladder-street", "rmje-01", "renminjie-east", ["ladder"])
    event = submitted("ladder-grid", "test.ladder")

    await publish(dispatch_settings, [event])
    done = await wait_until(dispatch_db, event.request, lambda d: "request.sla_breached" in types(d), within=30)

    timeline = done["timeline"]
    at = {e["type"] + ":" + (e["data"]["level"] or ""): datetime.fromisoformat(e["time"]) for e in timeline}
    start = at["request.received:grid"]
    climbs = [(at[f"request.escalated:{lvl}"] - start).total_seconds() for lvl in ("community", "street", "district")]
    assert [round(s / 3) for s in climbs] == [1, 2, 3], climbs  # every 3 s, give or take a timer poll
    assert at["request.sla_warning:grid"] < at["request.escalated:community"]
    offered_per_level = [
        (e["data"]["level"], e["data"]["volunteer_id"]) for e in timeline if e["type"] == "request.offered"
    ]
    assert offered_per_level == [
        ("grid", "v-ladder-grid"),
        ("community", "v-ladder-community"),
        ("street", "v-ladder-street"),
    ]
    withdrawn = [e["data"]["volunteer_id"] for e in timeline if e["type"] == "request.offer_withdrawn"]
    assert withdrawn == ["v-ladder-grid", "v-ladder-community", "v-ladder-street"]
    escalations = [e["data"] for e in timeline if e["type"] == "request.escalated"]
    assert [e["detail"]["responsible_role"] for e in escalations] == ["community_director", "street_office", "district"]
    assert all(e["critical"] for e in escalations)
    assert done["level"] == "district" and done["status"] in ("matching", "escalated")
    # Each deadline fired once: one escalation per level, no repeats.
    assert [e["level"] for e in escalations] == ["community", "street", "district"]
