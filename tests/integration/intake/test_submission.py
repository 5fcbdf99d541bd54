"""Submissions: validated against the menu and its questions, published with routing fields, 202 after the ack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.contracts.envelope import decode_data
from shared.contracts.requests import RequestSubmittedV1
from shared.request_ids import access_token
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import CommandTap, Keys

pytestmark = pytest.mark.integration
MEDICINE_WITH_QUESTIONS = {
    "name_zh": "代购药品",
    "name_en": "Buy medicine",
    "category": "errand",
    "urgency": "high",
    "required_skills": ["errand"],
    "attributes": [
        {"code": "pharmacy", "datatype": "string", "required": True, "description": "Which pharmacy"},
        {"code": "boxes", "datatype": "number"},
        {"code": "payment", "datatype": "singlevaluelist", "values": [{"key": "cash", "name": "现金"},
                                                                     {"key": "wechat", "name": "微信"}]},
    ],
}  # fmt: skip


def body(**overrides: Any) -> dict[str, Any]:
    base = {
        "menu_item_code": "errand.groceries",
        "grid_id": "xgll-01",
        "resident_name": "王仁柱",
        "resident_phone": "138 0000 1234",
        "text": "十斤米",
    }
    return {**base, **overrides}


@pytest.fixture(scope="module")
async def medicine_with_questions(intake: httpx.AsyncClient, keys: Keys) -> None:
    response = await intake.put(
        "/v1/districts/chengzhong/communities/xianggelila/menu/errand.prescription",
        json=MEDICINE_WITH_QUESTIONS,
        headers=keys.headers("admin"),
    )
    assert response.status_code in (200, 201)


class TestSubmit:
    async def test_accepted_submission_is_on_the_topic_with_routing_fields(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, intake_settings: IntakeSettings
    ) -> None:
        response = await intake.post("/v1/districts/chengzhong/requests", json=body(), headers=keys.headers("client"))

        assert response.status_code == 202
        accepted = response.json()
        request_id = accepted["request_id"]
        key = intake_settings.id_signing_key.get_secret_value().encode()
        assert accepted["access_token"] == access_token(key, request_id)
        event = await tap.wait_for(f"{request_id}:submitted")
        data = decode_data(event)
        assert isinstance(data, RequestSubmittedV1)
        assert event.district_id == "chengzhong"
        assert data.resident_phone == "+8613800001234"
        assert data.community_id == "xianggelila" and data.street_office_id == "renminjie"
        assert data.priority == "normal"
        assert data.submitted_by is not None and data.submitted_by.role == "client_app"
        assert data.submitted_by.subject == keys.client.split("_")[1]

    async def test_answers_to_the_menu_questions_are_checked_and_typed(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, medicine_with_questions: None
    ) -> None:
        good = await intake.post(
            "/v1/districts/chengzhong/requests",
            json=body(menu_item_code="errand.prescription", attributes={"pharmacy": "同仁堂", "boxes": "2"}),
            headers=keys.headers("client"),
        )
        assert good.status_code == 202
        data = decode_data(await tap.wait_for(f"{good.json()['request_id']}:submitted"))
        assert isinstance(data, RequestSubmittedV1)
        assert data.attributes == {"pharmacy": "同仁堂", "boxes": 2}
        assert data.priority == "high"

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"attributes": {"boxes": 1}}, "attributes.pharmacy"),
            ({"attributes": {"pharmacy": "x", "boxes": "many"}}, "attributes.boxes"),
            ({"attributes": {"pharmacy": "x", "payment": "gold"}}, "attributes.payment"),
            ({"attributes": {"pharmacy": "x", "colour": "red"}}, "attributes.colour"),
            ({"menu_item_code": "errand.caviar"}, "menu_item_code"),
            ({"grid_id": "xyx-01"}, "grid_id"),  # chengxi's grid
            ({"resident_phone": "12345"}, "resident_phone"),
            ({"priority": "critical", "attributes": {"pharmacy": "x"}}, "priority"),  # client apps cannot
            ({"resident_name": None, "attributes": {"pharmacy": "x"}}, "resident_name"),
            ({"actor": {"role": "operator", "subject": "me"}}, "actor"),
        ],
    )
    async def test_invalid_submission_is_422_naming_the_field(
        self,
        intake: httpx.AsyncClient,
        keys: Keys,
        medicine_with_questions: None,
        overrides: dict[str, Any],
        field: str,
    ) -> None:
        response = await intake.post(
            "/v1/districts/chengzhong/requests",
            json=body(**{"menu_item_code": "errand.prescription", **overrides}),
            headers=keys.headers("client"),
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]]

    async def test_operator_may_submit_with_only_a_phone_and_set_priority(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap
    ) -> None:
        response = await intake.post(
            "/v1/districts/chengzhong/requests",
            json={"menu_item_code": "welfare.check", "grid_id": "xgll-02", "resident_phone": "0971-8123456",
                  "priority": "critical"},
            headers=keys.headers("operator"),
        )  # fmt: skip
        assert response.status_code == 202
        data = decode_data(await tap.wait_for(f"{response.json()['request_id']}:submitted"))
        assert isinstance(data, RequestSubmittedV1)
        assert data.resident_phone == "+869718123456"
        assert data.resident_name.endswith("3456")
        assert data.priority == "critical"
        assert data.submitted_by is not None and data.submitted_by.role == "operator"

    async def test_volunteer_keys_cannot_submit(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        response = await intake.post(
            "/v1/districts/chengzhong/requests", json=body(), headers=keys.headers("volunteer")
        )
        assert response.status_code == 403

    async def test_idempotency_key_is_scoped_to_the_api_key(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        headers = {"Idempotency-Key": "same-key"}
        first = await intake.post(
            "/v1/districts/chengzhong/requests", json=body(), headers={**headers, **keys.headers("client")}
        )
        again = await intake.post(
            "/v1/districts/chengzhong/requests", json=body(), headers={**headers, **keys.headers("client")}
        )
        other_app = await intake.post(
            "/v1/districts/chengzhong/requests", json=body(), headers={**headers, **keys.headers("operator")}
        )
        assert first.json()["request_id"] == again.json()["request_id"] != other_app.json()["request_id"]
