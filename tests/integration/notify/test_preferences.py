"""Preferences: any valid PUT is stored as the reader reads it, and a bad stored document stalls nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.preferences import Preferences
from services.notify.messaging import PreferenceRepository, PushNotifier
from shared.api_keys import Role
from shared.contracts import REQUEST_ASSIGNED, StatusChangedV1, new_event
from shared.gateways import LogOnlyGateway
from shared.mongo import Document
from shared.request_ids import access_token, mint_request_id
from tests.integration.notify.conftest import key_of

pytestmark = pytest.mark.integration

BODIES: list[dict[str, Any]] = [
    {},
    {"phone": "13800001234"},
    {"channels": ["sms"], "language": "en"},
    {"channels": ["sms", "voice"], "quiet_hours": {"start": "22:00", "end": "07:00"}, "phone": "+8613800001234"},
]


@pytest.mark.parametrize("body", BODIES)
async def test_a_volunteer_puts_any_valid_preferences_and_reads_them_back(
    notify: httpx.AsyncClient, db: AsyncDatabase[Document], body: dict[str, Any]
) -> None:
    subject = f"v-{uuid.uuid4().hex[:8]}"
    key = await key_of(db, Role.VOLUNTEER, subject=subject)

    response = await notify.put("/v1/volunteers/me/preferences", json=body, headers={"X-API-Key": key})

    assert response.status_code == 200, response.text
    stored, _ = await PreferenceRepository(db).get("chengzhong", f"volunteer:{subject}")
    assert response.json()["language"] == stored.language == body.get("language", "zh")
    document = await db.notify_preferences.find_one({"_id": f"chengzhong:volunteer:{subject}"})
    assert document is not None
    Preferences.model_validate(document["preferences"])  # what was written is what the reader accepts


@pytest.mark.parametrize("body", BODIES)
async def test_a_resident_puts_any_valid_preferences(
    notify: httpx.AsyncClient, platform_env: dict[str, str], body: dict[str, Any]
) -> None:
    key = platform_env["GRID_ID_SIGNING_KEY"].encode()
    request_id = mint_request_id(key, "chengzhong")

    response = await notify.put(
        f"/v1/districts/chengzhong/requests/{request_id}/preferences",
        params={"access_token": access_token(key, request_id)},
        json=body,
    )

    assert response.status_code == 200, response.text


async def test_a_bad_stored_document_falls_back_to_the_defaults_and_the_event_still_notifies(
    db: AsyncDatabase[Document],
) -> None:
    request_id = mint_request_id(b"k" * 32, "chengzhong")
    volunteer_id = f"v-{uuid.uuid4().hex[:8]}"
    # What the broken PUT wrote: a field the model forbids, and garbage of every other kind.
    await db.notify_preferences.insert_many(
        [
            {
                "_id": f"chengzhong:request:{request_id}",
                "preferences": {"channels": ["sms"], "language": "zh", "quiet_hours": None, "phone": None},
                "phone": "+8613800001234",
            },
            {"_id": f"chengzhong:volunteer:{volunteer_id}", "preferences": "garbage", "phone": 42},
        ]
    )
    gateway = LogOnlyGateway()
    notifier = PushNotifier(db, PreferenceRepository(db), gateway)
    event = new_event(
        event_type=REQUEST_ASSIGNED,
        source="dispatch",
        district_id="chengzhong",
        request_id=request_id,
        data=StatusChangedV1(
            sequence=3,
            status="assigned",
            level="grid",
            community_id="c1",
            grid_id="g1",
            volunteer_id=volunteer_id,
            critical=True,
        ),
    )

    await notifier.notify(event)  # must not raise: a raise here is retried and dead-lettered

    assert gateway.sent  # the resident's messages went out with default preferences
