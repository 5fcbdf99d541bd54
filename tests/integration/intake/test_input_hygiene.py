"""Free text with control, bidi-override or escape characters, and numbers nobody can dial, are 422 (not stored)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import Keys
from tests.integration.intake.test_commands import path, stored
from tests.integration.intake.test_submission import body

pytestmark = pytest.mark.integration
HOSTILE = ["王\x00仁柱", "\u202e王仁柱", "\x1b[2J\x1b[31m王仁柱", "王\u2067仁柱"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["resident_name", "text", "grid_id"])
async def test_submissions_with_hostile_text_are_refused(
    intake: httpx.AsyncClient, keys: Keys, field: str, value: str
) -> None:
    response = await intake.post(
        "/v1/districts/chengzhong/requests", json=body(**{field: value}), headers=keys.headers("client")
    )
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize("phone", ["+999999999999999", "+8699999999999", "+1 000 000 0000"])
async def test_numbers_nobody_can_dial_are_refused(intake: httpx.AsyncClient, keys: Keys, phone: str) -> None:
    response = await intake.post(
        "/v1/districts/chengzhong/requests", json=body(resident_phone=phone), headers=keys.headers("client")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "resident_phone"


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("cancel", {"reason": "\u202eok"}),
        ("notes", {"text": "note\x00"}),
        ("operator/escalate", {"reason": "\x1b[31murgent"}),
    ],
)
async def test_commands_with_hostile_text_are_refused(
    intake: httpx.AsyncClient,
    keys: Keys,
    db: AsyncDatabase[Document],
    intake_settings: IntakeSettings,
    action: str,
    payload: dict[str, Any],
) -> None:
    document = await stored(db, intake_settings)
    response = await intake.post(path(document["_id"], action), json=payload, headers=keys.headers("operator"))
    assert response.status_code == 422, response.text


async def test_open311_descriptions_are_checked_too(intake: httpx.AsyncClient, keys: Keys) -> None:
    response = await intake.post(
        "/open311/v2/requests.json",
        data={
            "api_key": keys.client,
            "jurisdiction_id": "chengzhong",
            "service_code": "errand.groceries",
            "address_id": "xgll-01",
            "phone": "13800001234",
            "description": "rice\x1b]0;pwned\x07",
        },
    )
    assert response.status_code == 400, response.text
