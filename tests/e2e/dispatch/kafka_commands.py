"""Publish events straight to the requests topic, as intake would (its command endpoints are not here yet)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import EventEnvelope, new_event
from shared.contracts.commands import COMMAND_PAYLOADS, Actor
from shared.kafka import EventPublisher
from shared.mongo import Document
from shared.settings import PlatformSettings


async def publish(settings: PlatformSettings, events: list[EventEnvelope]) -> None:
    publisher = EventPublisher(settings.kafka_bootstrap, 10.0)
    try:
        for event in events:
            await publisher.publish(settings.topics().requests, event)
    finally:
        await publisher.close()


def command(
    request_id: str, command_type: str, actor: Actor, district_id: str = "chengzhong", **fields: Any
) -> EventEnvelope:
    payload: BaseModel = COMMAND_PAYLOADS[command_type](actor=actor, **fields)
    return new_event(
        event_type=command_type,
        source="test",
        district_id=district_id,
        request_id=request_id,
        event_id=f"{request_id}:{command_type}:{uuid.uuid4().hex[:8]}",
        data=payload,
    )


def volunteer(volunteer_id: str) -> Actor:
    return Actor(role="volunteer", subject=volunteer_id)


async def wait_until(
    db: AsyncDatabase[Document], request_id: str, check: Callable[[Document], bool], within: float = 20.0
) -> Document:
    deadline = asyncio.get_running_loop().time() + within
    document: Document | None = None
    while asyncio.get_running_loop().time() < deadline:
        document = await db.requests.find_one({"_id": request_id})
        if document is not None and not document.get("outbox_pending") and check(document):
            return document
        await asyncio.sleep(0.2)
    state = (
        None
        if document is None
        else (
            document["status"],
            [e["type"] for e in document["timeline"]],
            document["timeline"][-1]["data"].get("reason"),
        )
    )
    raise AssertionError(f"request {request_id} did not reach the expected state within {within}s: {state}")


async def until_all(checks: list[Awaitable[Document]]) -> list[Document]:
    return list(await asyncio.gather(*checks))
