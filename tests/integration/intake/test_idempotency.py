"""Idempotency-Key: same key and body repeat the answer, another body is refused, keys are per caller."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import Keys
from tests.integration.intake.test_commands import path, stored
from tests.integration.intake.test_submission import body

pytestmark = pytest.mark.integration
REQUESTS = "/v1/districts/chengzhong/requests"


def idempotent(keys: Keys, role: str, key: str) -> dict[str, str]:
    return {**keys.headers(role), "Idempotency-Key": key}


async def test_same_key_same_body_repeats_and_another_body_is_422(intake: httpx.AsyncClient, keys: Keys) -> None:
    headers = idempotent(keys, "client", f"order-{uuid.uuid4().hex}")

    first = await intake.post(REQUESTS, json=body(text="十斤米"), headers=headers)
    # The same body written another way (the phone with other separators) is the same request.
    again = await intake.post(REQUESTS, json=body(text="十斤米", resident_phone="13800001234"), headers=headers)
    changed = await intake.post(REQUESTS, json=body(text="一桶油"), headers=headers)

    assert first.status_code == again.status_code == 202
    assert first.json()["request_id"] == again.json()["request_id"]
    assert changed.status_code == 422, changed.text
    assert changed.headers["content-type"] == "application/problem+json"
    assert changed.json()["code"] == "idempotency-key-reused"
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_a_command_with_a_reused_key_and_another_body_is_422(
    intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
) -> None:
    document = await stored(db, intake_settings)
    headers = idempotent(keys, "operator", f"esc-{uuid.uuid4().hex}")

    first = await intake.post(path(document["_id"], "operator/escalate"), json={"reason": "a"}, headers=headers)
    again = await intake.post(path(document["_id"], "operator/escalate"), json={"reason": "a"}, headers=headers)
    changed = await intake.post(path(document["_id"], "operator/escalate"), json={"reason": "b"}, headers=headers)

    assert first.status_code == again.status_code == 202
    assert first.json()["command_id"] == again.json()["command_id"]
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency-key-reused"


async def test_command_keys_are_scoped_by_the_api_key(
    intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
) -> None:
    document = await stored(db, intake_settings)
    second_operator = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.OPERATOR, subject="o2")
    key = f"close-{uuid.uuid4().hex}"

    mine = await intake.post(
        path(document["_id"], "operator/close"), json={"reason": "done"}, headers=idempotent(keys, "operator", key)
    )
    theirs = await intake.post(
        path(document["_id"], "operator/close"),
        json={"reason": "other"},
        headers={"X-API-Key": second_operator, "Idempotency-Key": key},
    )

    assert mine.status_code == theirs.status_code == 202, theirs.text
    assert mine.json()["command_id"] != theirs.json()["command_id"]
