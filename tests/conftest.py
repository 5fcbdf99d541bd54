"""Session-wide fixtures: real infrastructure, and names that keep this run apart from any other."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from shared.mongo import Document, connect, database
from shared.settings import PlatformSettings
from tests.infrastructure import Infrastructure, provide


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with provide() as provided:
        yield provided


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


# The services run as in production (GRID_ENVIRONMENT unset), which refuses public or short keys.
SIGNING_KEY_OF_THIS_RUN = f"test-key-{secrets.token_urlsafe(32)}"


def environment_for(infrastructure: Infrastructure, run_id: str, part: str = "") -> dict[str, str]:
    """Topic prefix, consumer groups and database of this run (and of a `part` of it that must not share them)."""
    return {
        "KAFKA_BOOTSTRAP": infrastructure.kafka_bootstrap,
        "MONGODB_URI": infrastructure.mongodb_uri,
        "MONGODB_DATABASE": f"grid_test_{run_id}{part}",
        "GRID_TOPIC_PREFIX": f"t{run_id}{part}.",
        "GRID_ID_SIGNING_KEY": SIGNING_KEY_OF_THIS_RUN,
        # Every test talks from 127.0.0.1, and some fail authentication on purpose: limits of a shared
        # address are raised for the run (tests/integration/test_rate_limits.py sets its own small ones).
        "GRID_RATE_PER_ADDRESS_PER_SECOND": "5000",
        "GRID_RATE_ADDRESS_BURST": "10000",
        "GRID_AUTH_FAILURE_BURST": "1000",
    }


async def demo_database(client: AsyncMongoClient[Document], settings: PlatformSettings) -> AsyncDatabase[Document]:
    test_db = database(client, settings)
    await reference_data.load(test_db, reference_data.read_yaml(DEMO_FILE))
    return test_db


@pytest.fixture(scope="session")
def platform_env(infrastructure: Infrastructure, run_id: str) -> dict[str, str]:
    """Environment for services under test: own topic prefix, consumer groups and database."""
    return environment_for(infrastructure, run_id)


@pytest.fixture(scope="session")
def platform_settings(platform_env: dict[str, str]) -> PlatformSettings:
    return PlatformSettings(**platform_env)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def mongo_client(platform_settings: PlatformSettings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(platform_settings)
    yield client
    await client.drop_database(platform_settings.mongodb_database)
    await client.close()


@pytest.fixture(scope="session")
async def db(mongo_client: AsyncMongoClient[Document], platform_settings: PlatformSettings) -> AsyncDatabase[Document]:
    """The run's database with the demo district loaded."""
    return await demo_database(mongo_client, platform_settings)
