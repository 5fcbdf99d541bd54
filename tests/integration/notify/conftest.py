"""Notify's HTTP API in process on the run's database (no consumer: the lifespan is not started)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.api import create_app
from services.notify.settings import NotifySettings
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document


@pytest.fixture(scope="module")
async def notify(platform_env: dict[str, str], db: AsyncDatabase[Document]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(NotifySettings(**platform_env))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify") as client:
        yield client


async def key_of(db: AsyncDatabase[Document], role: Role, district_id: str = "chengzhong", subject: str = "") -> str:
    return await ApiKeyRepository(db).create(district_id=district_id, role=role, subject=subject or role.value)


@pytest.fixture(scope="module")
async def notify_loopback(platform_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """Webhook targets on 127.0.0.1 allowed, as in the e2e tests (they are never called here)."""
    env = {**platform_env, "NOTIFY_WEBHOOK_ALLOW_LOOPBACK": "true"}
    app = create_app(NotifySettings(**env))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify") as client:
        yield client
