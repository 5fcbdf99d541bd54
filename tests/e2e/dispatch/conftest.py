"""Dispatch on its own: its own topics, consumer group and database, fed straight from Kafka.

These tests publish `request.submitted` and commands as intake would, so they exercise dispatch
without depending on intake's or notify's endpoints; fast clocks come from menu items inserted here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from shared.kafka import ensure_topics
from shared.mongo import Document, database
from shared.settings import PlatformSettings
from tests.e2e.service_processes import ServiceProcess

# Short timers so that a ladder climbs in seconds; the lease is short so a killed replica's claims return soon.
FAST_TIMERS = {
    "DISPATCH_TIMER_POLL_SECONDS": "0.2",
    "DISPATCH_TIMER_LEASE_SECONDS": "3",
    "DISPATCH_VERSION_CLAIM_LEASE_SECONDS": "6",
    "DISPATCH_REMATCH_SWEEP_SECONDS": "2",
    "DISPATCH_OUTBOX_SWEEP_SECONDS": "1",
    "DISPATCH_OUTBOX_GRACE_SECONDS": "2",
}


@pytest.fixture(scope="session")
def dispatch_env(platform_env: dict[str, str], run_id: str) -> dict[str, str]:
    return {
        **platform_env,
        **FAST_TIMERS,
        "MONGODB_DATABASE": f"grid_test_{run_id}_dispatch",
        "GRID_TOPIC_PREFIX": f"t{run_id}d.",
    }


@pytest.fixture(scope="session")
def dispatch_settings(dispatch_env: dict[str, str]) -> PlatformSettings:
    return PlatformSettings(**dispatch_env)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def dispatch_db(
    mongo_client: AsyncMongoClient[Document], dispatch_settings: PlatformSettings
) -> AsyncIterator[AsyncDatabase[Document]]:
    test_db = database(mongo_client, dispatch_settings)
    await reference_data.load(test_db, reference_data.read_yaml(DEMO_FILE))
    await ensure_topics(dispatch_settings.kafka_bootstrap, dispatch_settings.topics())
    yield test_db
    await mongo_client.drop_database(dispatch_settings.mongodb_database)


@pytest.fixture(scope="session")
def dispatcher(
    dispatch_env: dict[str, str], dispatch_db: AsyncDatabase[Document], service_logs: Path
) -> Iterator[ServiceProcess]:
    process = ServiceProcess("dispatch", {**dispatch_env, "DISPATCH_INSTANCE_ID": "dispatch-solo"}, service_logs)
    process.start()
    try:
        yield process
    finally:
        process.stop()
