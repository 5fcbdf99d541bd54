"""Scheduled care's commands through intake: the visit log by the volunteer who holds the visit, the
resident's "I'm fine" with the request's access token or by an operator; bad bodies get a clear 422."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import commands as c
from shared.contracts.envelope import decode_data
from shared.mongo import Document
from shared.request_ids import access_token
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import CommandTap, Keys
from tests.integration.intake.test_commands import id_key, path, stored

pytestmark = pytest.mark.integration


async def test_the_volunteer_holding_a_visit_records_its_outcome_with_a_need(
    intake: httpx.AsyncClient,
    keys: Keys,
    tap: CommandTap,
    db: AsyncDatabase[Document],
    intake_settings: IntakeSettings,
) -> None:
    document = await stored(db, intake_settings, status="assigned")
    body = {
        "outcome": "needs_something",
        "note": "米快吃完了",
        "need": {"menu_item_code": "errand.groceries", "text": "米和油"},
    }
    response = await intake.post(
        path(document["_id"], "care/visit-outcome"), json=body, headers=keys.headers("volunteer")
    )
    assert response.status_code == 202 and response.json()["type"] == c.CARE_RECORD_VISIT
    payload = decode_data(await tap.wait_for(response.json()["command_id"]))
    assert isinstance(payload, c.RecordVisitOutcomeV1)
    assert (payload.volunteer_id, payload.outcome) == ("v-li-jianguo", "needs_something")
    assert payload.need is not None and payload.need.menu_item_code == "errand.groceries"


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "needs_something"},
        {"outcome": "fine", "need": {"menu_item_code": "errand.groceries"}},
        {"outcome": "gone fishing"},
        {"outcome": "needs_something", "need": {"menu_item_code": "Not A Code"}},
    ],
)
async def test_a_visit_outcome_that_does_not_make_sense_is_refused(
    intake: httpx.AsyncClient,
    keys: Keys,
    db: AsyncDatabase[Document],
    intake_settings: IntakeSettings,
    body: dict[str, Any],
) -> None:
    document = await stored(db, intake_settings, status="assigned")
    response = await intake.post(
        path(document["_id"], "care/visit-outcome"), json=body, headers=keys.headers("volunteer")
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_only_the_holder_records_a_visit(
    intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
) -> None:
    document = await stored(db, intake_settings, assigned_volunteer_id="v-ma-xiaolan")
    response = await intake.post(
        path(document["_id"], "care/visit-outcome"), json={"outcome": "fine"}, headers=keys.headers("volunteer")
    )
    assert (response.status_code, response.json()["code"]) == (403, "not-your-assignment")


async def test_a_resident_confirms_a_check_in_with_the_access_token_and_an_operator_for_them(
    intake: httpx.AsyncClient,
    keys: Keys,
    tap: CommandTap,
    db: AsyncDatabase[Document],
    intake_settings: IntakeSettings,
) -> None:
    document = await stored(db, intake_settings, status="offered")
    action = path(document["_id"], "care/confirm-check-in")
    without = await intake.post(action, json={"note": "我很好"}, headers=keys.headers("client"))
    assert (without.status_code, without.json()["code"]) == (403, "access-token-required")
    token = access_token(id_key(intake_settings), document["_id"])
    resident = await intake.post(
        action, json={"note": "我很好"}, headers={**keys.headers("client"), "X-Access-Token": token}
    )
    operator = await intake.post(action, json={}, headers=keys.headers("operator"))
    assert resident.status_code == operator.status_code == 202
    payload = decode_data(await tap.wait_for(resident.json()["command_id"]))
    assert isinstance(payload, c.ConfirmCheckInV1) and payload.note == "我很好"
    assert payload.actor.role == "resident"
    volunteer = await intake.post(action, json={}, headers=keys.headers("volunteer"))
    assert volunteer.status_code == 403


async def test_the_volunteer_pages_visit_outcome_needs_a_session(intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/volunteer/api/tasks/care:p1:2026-12-01/visit-outcome", json={"outcome": "fine"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
