"""Intake in-process over the real broker and database, with keys for two districts and a command tap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.intake.api import create_app
from services.intake.settings import ApiLimits
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts.envelope import EventEnvelope
from shared.kafka import ensure_topics, manual_commit_consumer
from shared.mongo import Document
from shared.settings import IntakeSettings

SECOND_DISTRICT: dict[str, Any] = {
    "district": {"id": "chengxi", "name_zh": "城西区", "name_en": "Chengxi District"},
    "street_offices": [{"id": "guchengtai", "name_zh": "古城台街道", "name_en": "Guchengtai Street Office"}],
    "communities": [
        {"id": "xueyuanxiang", "street_office_id": "guchengtai", "name_zh": "学院巷社区", "name_en": "Xueyuanxiang"}
    ],
    "grids": [{"id": "xyx-01", "community_id": "xueyuanxiang", "name_zh": "学院巷第一网格", "name_en": "XYX Grid 1"}],
    "volunteers": [{"id": "v-cx-bai", "grid_id": "xyx-01", "name": "白雪", "kind": "volunteer", "skills": ["errand"]}],
    "menu": [{"code": "errand.groceries", "name_zh": "代购米面油", "name_en": "Groceries", "category": "errand"}],
}


@dataclass
class Keys:
    client: str
    operator: str
    admin: str
    volunteer: str  # v-li-jianguo of chengzhong
    other_volunteer: str  # v-zhao-min of chengzhong
    platform: str
    chengxi_operator: str
    chengxi_client: str

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": getattr(self, role)}


@dataclass
class CommandTap:
    """Every envelope on the run's requests topic, read by one consumer for the whole session."""

    events: list[EventEnvelope] = field(default_factory=list)
    keys: dict[str, bytes | None] = field(default_factory=dict)  # event id -> the record's key

    async def matching(
        self, wanted: Callable[[EventEnvelope], bool], count: int = 1, within: float = 15.0
    ) -> list[EventEnvelope]:
        """The first `count` events that `wanted` accepts, in topic order, once that many arrived."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            found = [event for event in self.events if wanted(event)]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                assert len(found) >= count, f"{len(found)} of {count} events on the topic within {within}s"
                return found
            await asyncio.sleep(0.05)

    async def wait_for(self, event_id: str, within: float = 15.0) -> EventEnvelope:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for event in self.events:
                if event.id == event_id:
                    return event
            await asyncio.sleep(0.05)
        raise AssertionError(f"event {event_id} not on the topic within {within}s")


@pytest.fixture(scope="session")
def intake_settings(platform_env: dict[str, str]) -> IntakeSettings:
    return IntakeSettings(**platform_env)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def districts(db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    await reference_data.load(db, SECOND_DISTRICT)
    return db


@pytest.fixture(scope="session")
async def keys(districts: AsyncDatabase[Document]) -> Keys:
    repository = ApiKeyRepository(districts)

    async def key(district: str | None, role: Role, subject: str = "test") -> str:
        return await repository.create(district_id=district, role=role, subject=subject, label="integration")

    return Keys(
        client=await key("chengzhong", Role.CLIENT_APP),
        operator=await key("chengzhong", Role.OPERATOR),
        admin=await key("chengzhong", Role.DISTRICT_ADMIN),
        volunteer=await key("chengzhong", Role.VOLUNTEER, "v-li-jianguo"),
        other_volunteer=await key("chengzhong", Role.VOLUNTEER, "v-zhao-min"),
        platform=await key(None, Role.PLATFORM_ADMIN),
        chengxi_operator=await key("chengxi", Role.OPERATOR),
        chengxi_client=await key("chengxi", Role.CLIENT_APP),
    )


@pytest.fixture(scope="session")
async def intake(
    intake_settings: IntakeSettings, districts: AsyncDatabase[Document]
) -> AsyncIterator[httpx.AsyncClient]:
    limits = ApiLimits(
        INTAKE_AUTH_CACHE_SECONDS=0, INTAKE_RATE_PER_SECOND=1000, INTAKE_RATE_BURST=1000, INTAKE_MAX_BODY_BYTES=8192
    )
    app = create_app(intake_settings, limits)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=30) as client:
            yield client


@pytest.fixture(scope="session")
async def tap(intake_settings: IntakeSettings) -> AsyncIterator[CommandTap]:
    topics = intake_settings.topics()
    await ensure_topics(intake_settings.kafka_bootstrap, topics)
    consumer = manual_commit_consumer(
        intake_settings.kafka_bootstrap, topics.requests, f"{intake_settings.topic_prefix}intake-tap"
    )
    await consumer.start()
    tap = CommandTap()

    async def read() -> None:
        async for record in consumer:
            event = EventEnvelope.from_bytes(record.value)
            tap.keys[event.id] = record.key
            tap.events.append(event)

    task = asyncio.create_task(read())
    try:
        yield tap
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
