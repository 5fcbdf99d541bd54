"""Two dispatch replicas under steady load, each frozen (SIGSTOP) past the session timeout in turn, then resumed.

The frozen owner loses its partition without knowing; when it wakes, its epoch is stale and it must not
write, publish or commit. Afterwards every request is dispatched, assigned at most once, no volunteer is
over capacity, every offer timer fired once, and both replicas are ready again within a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from shared.contracts import EventEnvelope
from shared.contracts.commands import OFFER_ACCEPT
from shared.kafka import ensure_topics
from shared.mongo import Document, database
from shared.settings import PlatformSettings
from tests.e2e.dispatch.fixtures import add_grid, add_menu_item, add_volunteer, submitted
from tests.e2e.dispatch.kafka_commands import command, publish, volunteer
from tests.e2e.dispatch.test_replicas import kinds, until
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e

SESSION_TIMEOUT_MS = 6000
PAUSE_SECONDS = SESSION_TIMEOUT_MS / 1000 + 6
CAPACITY = 40


@pytest.fixture
async def pause_env(
    dispatch_env: dict[str, str], mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings]]:
    env = {
        **dispatch_env,
        "MONGODB_DATABASE": dispatch_env["MONGODB_DATABASE"] + "_pause",
        "GRID_TOPIC_PREFIX": dispatch_env["GRID_TOPIC_PREFIX"] + "p.",
        "DISPATCH_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
    }
    settings = PlatformSettings(**env)  # type: ignore[arg-type]
    db = database(mongo_client, settings)
    await reference_data.load(db, reference_data.read_yaml(DEMO_FILE))
    await ensure_topics(settings.kafka_bootstrap, settings.topics())
    await add_grid(db, "pause-grid", "xianggelila")
    await add_volunteer(db, settings, "v-pause-busy", "pause-grid", "xianggelila", ["pause-accept"], capacity=CAPACITY)
    await add_volunteer(db, settings, "v-pause-silent-1", "pause-grid", "xianggelila", ["pause-silent"])
    await add_volunteer(db, settings, "v-pause-silent-2", "pause-grid", "xianggelila", ["pause-silent"])
    await add_menu_item(db, "xianggelila", "test.pause", required_skills=["pause-accept"], urgency="normal")
    await add_menu_item(
        db,
        "xianggelila",
        "test.pause-silent",
        required_skills=["pause-silent"],
        urgency="normal",
        offer_timeout_seconds=2,
    )
    yield env, db, settings
    await mongo_client.drop_database(settings.mongodb_database)


async def steady_load(settings: PlatformSettings, events: list[EventEnvelope], every: float) -> None:
    for event in events:
        await publish(settings, [event])
        await asyncio.sleep(every)


async def ready_again(replicas: list[ServiceProcess], within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if all(await asyncio.gather(*(asyncio.to_thread(r.ready) for r in replicas))):
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    raise AssertionError(f"not every replica was ready again within {within}s")


async def test_a_replica_paused_past_its_session_is_fenced_and_nothing_is_lost_or_doubled(
    pause_env: tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings], service_logs: Path
) -> None:
    env, db, settings = pause_env
    replicas = [
        ServiceProcess("dispatch", {**env, "DISPATCH_INSTANCE_ID": f"dispatch-pause-{n}"}, service_logs) for n in (1, 2)
    ]
    busy = [submitted("pause-grid", "test.pause") for _ in range(CAPACITY)]
    silent = [submitted("pause-grid", "test.pause-silent") for _ in range(6)]
    stream = [e for pair in zip(busy, silent + [None] * len(busy), strict=False) for e in pair if e]
    try:
        for replica in replicas:
            replica.start()
        load = asyncio.create_task(steady_load(settings, stream, every=(2 * PAUSE_SECONDS + 4) / len(stream)))
        for replica in replicas:  # whichever owns the district's partition is frozen once
            replica.pause()
            await asyncio.sleep(PAUSE_SECONDS)
            replica.resume()
            await asyncio.sleep(2)
        await load
        busy_ids = [e.request for e in busy]
        await until(db, busy_ids, lambda d: d["status"] == "offered", within=60)
        await publish(
            settings,
            [command(r, OFFER_ACCEPT, volunteer("v-pause-busy"), volunteer_id="v-pause-busy") for r in busy_ids],
        )
        assigned = await until(db, busy_ids, lambda d: d["status"] == "assigned", within=60)
        unmatched = await until(db, [e.request for e in silent], lambda d: "request.unmatched" in kinds(d), within=60)
        took = await ready_again(replicas, within=60)
    finally:
        for replica in replicas:
            replica.resume()
            replica.stop()

    assert took < 60
    for document in assigned:
        assert kinds(document).count("request.assigned") == 1
        assert kinds(document).count("request.received") == 1
        sequences = [e["data"]["sequence"] for e in document["timeline"]]
        assert sequences == list(range(1, len(sequences) + 1))  # no lost or doubled update
    load_document = await db.volunteer_load.find_one({"_id": "v-pause-busy"})
    assert load_document is not None and load_document["open_assignments"] == CAPACITY
    for document in unmatched:
        expired = [e["data"]["volunteer_id"] for e in document["timeline"] if e["type"] == "request.offer_expired"]
        assert expired == ["v-pause-silent-1", "v-pause-silent-2"]
        assert kinds(document).count("request.unmatched") == 1
