"""Kafka unreachable: intake answers 503 with a clear body within a few seconds, never hangs."""

from __future__ import annotations

import time

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.api import create_app
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.e2e.service_processes import free_port

pytestmark = pytest.mark.integration


async def test_submission_answers_503_when_kafka_is_unreachable(
    platform_env: dict[str, str], db: AsyncDatabase[Document]
) -> None:
    env = {**platform_env, "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "GRID_KAFKA_TIMEOUT_SECONDS": "2"}
    app = create_app(IntakeSettings(**env))  # type: ignore[arg-type]
    body = {
        "menu_item_code": "errand.medicine",
        "grid_id": "xgll-02",
        "resident_name": "李生兰",
        "resident_phone": "13900005678",
    }

    key = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.CLIENT_APP, subject="no-broker")

    started = time.monotonic()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        response = await client.post("/v1/districts/chengzhong/requests", json=body, headers={"X-API-Key": key})
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "broker-unavailable"
    assert elapsed < 10
