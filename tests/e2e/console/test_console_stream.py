"""The console relays notify's operator stream: a request filed through the console shows up on it live,
and the board dispatch keeps lists it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.e2e.service_processes import ServiceProcess
from tests.e2e.sse_client import read_events

pytestmark = pytest.mark.e2e


async def test_a_filed_request_arrives_on_the_relayed_stream_and_on_the_board(
    console: ServiceProcess, db: AsyncDatabase[Document]
) -> None:
    key = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.OPERATOR, subject="desk-stream")
    headers = {"X-API-Key": key}
    reading = asyncio.create_task(
        read_events(f"{console.url}/console/api/events", until_type="request.received", within=30, headers=headers)
    )
    await asyncio.sleep(1.0)  # the relay is open and live before the request is filed
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        filed = await client.post(
            "/console/api/requests",
            json={"grid_id": "rmje-01", "menu_item_code": "errand.medicine", "resident_phone": "13800007778"},
            headers=headers,
        )
        assert filed.status_code == 202, filed.text
        request_id = filed.json()["request_id"]

        events = await reading
        assert events[0].event == "reset"  # the relay starts at notify's head: no history to wade through
        assert events[-1].data["request_id"] == request_id

        for _ in range(50):
            board = (await client.get("/console/api/board", headers=headers)).json()
            if any(r["request_id"] == request_id for r in board["requests"]):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the request never reached dispatch's board")
