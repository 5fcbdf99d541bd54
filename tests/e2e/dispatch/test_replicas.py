"""Two dispatch replicas in one consumer group, one SIGKILLed mid-stream: nothing twice, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from shared.contracts.commands import OFFER_ACCEPT
from shared.kafka import ensure_topics
from shared.mongo import Document, database
from shared.settings import PlatformSettings
from tests.e2e.dispatch.fixtures import add_grid, add_menu_item, add_volunteer, submitted
from tests.e2e.dispatch.kafka_commands import command, publish, volunteer
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e

ACCEPTED = 24  # requests someone accepts
TIMED_OUT = 8  # requests nobody answers: two offer timeouts each, then up the ladder to "unmatched"


@pytest.fixture
async def replica_env(
    dispatch_env: dict[str, str], mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings]]:
    env = {
        **dispatch_env,
        "MONGODB_DATABASE": dispatch_env["MONGODB_DATABASE"] + "_replicas",
        "GRID_TOPIC_PREFIX": dispatch_env["GRID_TOPIC_PREFIX"] + "r.",
    }
    settings = PlatformSettings(**env)  # type: ignore[arg-type]
    db = database(mongo_client, settings)
    await reference_data.load(db, reference_data.read_yaml(DEMO_FILE))
    await ensure_topics(settings.kafka_bootstrap, settings.topics())
    await add_grid(db, "replica-grid", "xianggelila")
    await add_volunteer(db, settings, "v-rep-busy", "replica-grid", "xianggelila", ["rep-accept"], capacity=50)
    await add_volunteer(db, settings, "v-rep-silent-1", "replica-grid", "xianggelila", ["rep-silent"])
    await add_volunteer(db, settings, "v-rep-silent-2", "replica-grid", "xianggelila", ["rep-silent"])
    await add_menu_item(db, "xianggelila", "test.accept", required_skills=["rep-accept"], urgency="normal")
    await add_menu_item(
        db, "xianggelila", "test.silent", required_skills=["rep-silent"], urgency="normal", offer_timeout_seconds=1
    )
    yield env, db, settings
    await mongo_client.drop_database(settings.mongodb_database)


async def until(
    db: AsyncDatabase[Document], ids: list[str], check: Callable[[Document], bool], within: float
) -> list[Document]:
    deadline = asyncio.get_running_loop().time() + within
    documents: list[Document] = []
    while asyncio.get_running_loop().time() < deadline:
        documents = [d async for d in db.requests.find({"_id": {"$in": ids}})]
        if len(documents) == len(ids) and all(not d.get("outbox_pending") and check(d) for d in documents):
            return documents
        await asyncio.sleep(0.5)
    stuck = [(d["_id"], d["status"]) for d in documents if not check(d)]
    raise AssertionError(f"{len(ids) - len(documents)} missing, not there yet: {stuck[:5]}")


def kinds(document: Document) -> list[str]:
    return [event["type"] for event in document["timeline"]]


async def test_two_replicas_and_a_sigkill_assign_once_and_fire_each_timer_once(
    replica_env: tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings], service_logs: Path
) -> None:
    env, db, settings = replica_env
    replicas = [
        ServiceProcess("dispatch", {**env, "DISPATCH_INSTANCE_ID": f"dispatch-{n}"}, service_logs) for n in (1, 2)
    ]
    try:
        for replica in replicas:
            replica.start()
        busy = [submitted("replica-grid", "test.accept") for _ in range(ACCEPTED)]
        silent = [submitted("replica-grid", "test.silent") for _ in range(TIMED_OUT)]
        stream = [event for pair in zip(busy, silent + [None] * ACCEPTED, strict=False) for event in pair if event]
        await publish(settings, stream[: len(stream) // 2])
        replicas[0].kill()  # mid-stream, with timers claimed and events in flight
        await publish(settings, stream[len(stream) // 2 :])
        replicas[0].start()

        busy_ids = [e.request for e in busy]
        offered = await until(db, busy_ids, lambda d: d["status"] == "offered", within=60)
        assert {tuple(d["offered_volunteer_ids"]) for d in offered} == {("v-rep-busy",)}
        accepts = [command(r, OFFER_ACCEPT, volunteer("v-rep-busy"), volunteer_id="v-rep-busy") for r in busy_ids]
        await publish(settings, accepts[: ACCEPTED // 2])
        replicas[1].kill()
        await publish(settings, accepts[ACCEPTED // 2 :])

        assigned = await until(db, busy_ids, lambda d: d["status"] == "assigned", within=60)
        silent_ids = [e.request for e in silent]
        unmatched = await until(db, silent_ids, lambda d: "request.unmatched" in kinds(d), within=60)
    finally:
        for replica in replicas:
            replica.stop()

    for document in assigned:
        assert kinds(document).count("request.assigned") == 1
        assert kinds(document).count("request.received") == 1
    load = await db.volunteer_load.find_one({"_id": "v-rep-busy"})
    assert load is not None
    assert load["open_assignments"] == ACCEPTED
    assert {d["assigned_volunteer_id"] for d in assigned} == {"v-rep-busy"}
    for document in unmatched:
        expired = [e["data"]["volunteer_id"] for e in document["timeline"] if e["type"] == "request.offer_expired"]
        assert expired == ["v-rep-silent-1", "v-rep-silent-2"]  # each offer timer fired exactly once
        assert kinds(document).count("request.unmatched") == 1
        assert not [t for t in document["timers"] if t["kind"] == "offer_timeout"]
