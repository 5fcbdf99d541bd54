"""Read models through real Kafka and a running dispatch: the district board and the day's rates follow a
request from submission to its rating, a command delivered twice counts once, and a SIGKILL of dispatch
mid-stream leaves every request counted exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.read_models.backfill import documents_for
from services.dispatch.read_models.board import BOARD_COLLECTION
from services.dispatch.read_models.rates import MONTHLY_COLLECTION, day_field, day_of, month_of
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


def grid_row(monthly: Document, day: str, grid: str = GRID) -> dict[str, Any]:
    """One grid's tallies of one day in its month's document."""
    text = (monthly.get("days") or {}).get(day_field(day)) or "[]"
    return next((g for g in json.loads(text) if g["group"] == grid), {})


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
    monthly_id = f"{DISTRICT}:{month_of(day)}:grid"
    received = await read_until(dispatch_db, MONTHLY_COLLECTION, monthly_id, lambda d: bool(grid_row(d, day)))
    assert (grid_row(received, day)["received"], grid_row(received, day)["responded"]) == (1, 0)

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
    rated = await read_until(dispatch_db, MONTHLY_COLLECTION, monthly_id, lambda d: grid_row(d, day).get("rated") == 1)
    row = grid_row(rated, day)
    assert {k: row[k] for k in ("received", "responded", "resolved", "rated", "satisfied", "resolved_on_time")} == {
        "received": 1, "responded": 1, "resolved": 1, "rated": 1, "satisfied": 1, "resolved_on_time": 1,
    }  # fmt: skip
    assert sum(row["assign_minutes"].values()) == 1 and sum(row["resolve_minutes"].values()) == 1
    item = await dispatch_db[MONTHLY_COLLECTION].find_one({"_id": f"{DISTRICT}:{month_of(day)}:menu_item"})
    assert item is not None
    assert next(g for g in json.loads(item["total"]) if g["group"] == "test.readmodel")["received"] == 1

    closed = await read_until(dispatch_db, BOARD_COLLECTION, DISTRICT, lambda b: not listed(b, request_id))
    assert {"grid_id": GRID, "open": 1} not in payload(closed)["load_per_grid"]
    assert isinstance(closed["as_of"], datetime)
    # The volunteer holds nothing any more: only volunteers with open assignments are listed.
    assert all(v["volunteer_id"] != "v-rm-1" for v in payload(closed)["volunteer_load"])


async def test_a_sigkill_mid_stream_counts_every_request_once(
    dispatcher: ServiceProcess, dispatch_db: AsyncDatabase[Document], dispatch_settings: PlatformSettings
) -> None:
    grid = "rm-crash-grid"
    await add_grid(dispatch_db, grid, "xianggelila")
    await add_volunteer(dispatch_db, dispatch_settings, "v-rm-crash", grid, "xianggelila", ["rmcrash"], capacity=50)
    await add_menu_item(dispatch_db, "xianggelila", "test.rmcrash", urgency="normal", required_skills=["rmcrash"])
    events = [submitted(grid, "test.rmcrash") for _ in range(40)]
    ids = [event.request for event in events]

    await publish(dispatch_settings, events[:20])
    for _ in range(100):  # the first writes are in: kill it somewhere between writing, publishing, committing
        if await dispatch_db.requests.find_one({"_id": ids[0]}) is not None:
            break
        await asyncio.sleep(0.05)
    dispatcher.kill()
    await publish(dispatch_settings, events[20:])
    dispatcher.start()

    stored: list[Document] = []
    for _ in range(300):
        stored = await dispatch_db.requests.find({"grid_id": grid}).to_list()
        if len(stored) == len(ids) and all(d["status"] == "offered" and not d["outbox"] for d in stored):
            break
        await asyncio.sleep(0.3)
    assert sorted(d["_id"] for d in stored) == sorted(ids)
    # What the days' documents must say: computed again from the requests as stored.
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for collection, document in documents_for(DISTRICT, stored, ZoneInfo("Asia/Shanghai"), datetime.now(UTC)):
        if collection == MONTHLY_COLLECTION and document["group_by"] == "grid":
            for name in document["days"]:
                day = f"{document['month']}-{name[1:]}"
                expected[(document["_id"], day)] = grid_row(document, day, grid)
    assert sum(row.get("received", 0) for row in expected.values()) == len(ids)
    for (monthly_id, day), row in expected.items():

        def counted_once(monthly: Document, day: str = day, row: dict[str, Any] = row) -> bool:
            return grid_row(monthly, day, grid) == row

        await read_until(dispatch_db, MONTHLY_COLLECTION, monthly_id, counted_once)
