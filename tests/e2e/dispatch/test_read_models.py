"""Read models through real Kafka and a running dispatch: the district board and the day's rates follow a
request from submission to its rating, and a command delivered twice counts once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.read_models.board import BOARD_COLLECTION
from services.dispatch.read_models.rates import DAILY_COLLECTION, day_of
from shared.contracts.commands import OFFER_ACCEPT, REQUEST_RATE, WORK_COMPLETE, WORK_START, Actor
from shared.mongo import Document
from shared.settings import PlatformSettings
from tests.e2e.dispatch.fixtures import DISTRICT, add_grid, add_menu_item, add_volunteer, submitted
from tests.e2e.dispatch.kafka_commands import command, publish, volunteer, wait_until
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
GRID = "rm-grid"


async def read_until(
    db: AsyncDatabase[Document], collection: str, document_id: str, check: Callable[[Document], bool]
) -> Document:
    """The read model by `_id` once it shows what the test waits for (dispatch writes it with the batch)."""
    document: Document | None = None
    for _ in range(100):
        document = await db[collection].find_one({"_id": document_id})
        if document is not None and check(document):
            return document
        await asyncio.sleep(0.2)
    raise AssertionError(f"{collection} {document_id} never matched: {document}")


def grid_row(daily: Document) -> dict[str, Any]:
    return next((g for g in json.loads(daily["groups"]) if g["group"] == GRID), {})


def payload(board: Document) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(board["board"])
    return parsed


def listed(board: Document, request_id: str) -> bool:
    return any(row["request_id"] == request_id for row in payload(board)["requests"])


async def test_a_request_moves_through_the_board_and_into_its_days_rates(
    dispatcher: ServiceProcess, dispatch_db: AsyncDatabase[Document], dispatch_settings: PlatformSettings
) -> None:
    await add_grid(dispatch_db, GRID, "xianggelila")
    await add_volunteer(dispatch_db, dispatch_settings, "v-rm-1", GRID, "xianggelila", ["readmodel"], capacity=2)
    await add_menu_item(dispatch_db, "xianggelila", "test.readmodel", urgency="normal", required_skills=["readmodel"])
    event = submitted(GRID, "test.readmodel")
    request_id = event.request

    await publish(dispatch_settings, [event])
    offered = await wait_until(dispatch_db, request_id, lambda d: d["status"] == "offered")
    board = await read_until(dispatch_db, BOARD_COLLECTION, DISTRICT, lambda b: listed(b, request_id))
    row = next(r for r in payload(board)["requests"] if r["request_id"] == request_id)
    assert (row["status"], row["level"], row["grid_id"]) == ("offered", "grid", GRID)
    assert {"grid_id": GRID, "open": 1} in payload(board)["load_per_grid"]
    assert sum(c["count"] for c in payload(board)["counts"] if c["status"] == "offered") >= 1

    day = day_of(offered["submitted_at"], ZoneInfo("Asia/Shanghai"))
    daily_id = f"{DISTRICT}:{day}:grid"
    received = await read_until(dispatch_db, DAILY_COLLECTION, daily_id, lambda d: bool(grid_row(d)))
    assert (grid_row(received)["received"], grid_row(received)["responded"]) == (1, 0)

    accept = command(request_id, OFFER_ACCEPT, volunteer("v-rm-1"), volunteer_id="v-rm-1")
    await publish(
        dispatch_settings,
        [
            accept,
            accept,  # delivered twice: counted once
            command(request_id, WORK_START, volunteer("v-rm-1"), volunteer_id="v-rm-1"),
            command(request_id, WORK_COMPLETE, volunteer("v-rm-1"), volunteer_id="v-rm-1"),
            command(request_id, REQUEST_RATE, Actor(role="resident", subject="+8613800001234"), stars=5),
        ],
    )
    await wait_until(dispatch_db, request_id, lambda d: d["status"] == "rated")
    rated = await read_until(dispatch_db, DAILY_COLLECTION, daily_id, lambda d: grid_row(d).get("rated") == 1)
    row = grid_row(rated)
    assert {k: row[k] for k in ("received", "responded", "resolved", "rated", "satisfied", "resolved_on_time")} == {
        "received": 1, "responded": 1, "resolved": 1, "rated": 1, "satisfied": 1, "resolved_on_time": 1,
    }  # fmt: skip
    assert sum(row["assign_minutes"].values()) == 1 and sum(row["resolve_minutes"].values()) == 1
    item = await dispatch_db[DAILY_COLLECTION].find_one({"_id": f"{DISTRICT}:{day}:menu_item"})
    assert item is not None
    assert next(g for g in json.loads(item["groups"]) if g["group"] == "test.readmodel")["received"] == 1

    closed = await read_until(dispatch_db, BOARD_COLLECTION, DISTRICT, lambda b: not listed(b, request_id))
    assert {"grid_id": GRID, "open": 1} not in payload(closed)["load_per_grid"]
    assert isinstance(closed["as_of"], datetime)
    load = next(v for v in payload(closed)["volunteer_load"] if v["volunteer_id"] == "v-rm-1")
    assert load["open_assignments"] == 0
