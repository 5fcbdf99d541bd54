"""Commands: one envelope each on the requests topic, keyed by request id, actor from the key, 202 after the ack."""

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
from tests.integration.intake.documents import request_document

pytestmark = pytest.mark.integration


def id_key(settings: IntakeSettings) -> bytes:
    return settings.id_signing_key.get_secret_value().encode()


async def stored(db: AsyncDatabase[Document], settings: IntakeSettings, **fields: Any) -> Document:
    document = request_document(id_key(settings), **fields)
    await db.requests.insert_one(document)
    return document


def path(request_id: str, action: str) -> str:
    return f"/v1/districts/chengzhong/requests/{request_id}/{action}"


class TestVolunteerCommands:
    async def test_volunteer_accepts_an_offer_made_to_them(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings,
    ) -> None:  # fmt: skip
        document = await stored(
            db, intake_settings, status="offered", assigned_volunteer_id=None,
            offered_volunteer_ids=["v-li-jianguo", "v-ma-xiaolan"],
        )  # fmt: skip

        response = await intake.post(path(document["_id"], "offer/accept"), json={}, headers=keys.headers("volunteer"))

        assert response.status_code == 202
        accepted = response.json()
        assert accepted["type"] == c.OFFER_ACCEPT
        event = await tap.wait_for(accepted["command_id"])
        assert event.type == c.OFFER_ACCEPT and event.request_id == document["_id"]
        payload = decode_data(event)
        assert isinstance(payload, c.AcceptOfferV1)
        assert payload.volunteer_id == "v-li-jianguo"
        assert payload.actor == c.Actor(role="volunteer", subject="v-li-jianguo")

    async def test_volunteer_cannot_answer_someone_elses_offer_or_work(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        offered = await stored(db, intake_settings, status="offered", offered_volunteer_ids=["v-ma-xiaolan"])
        assigned = await stored(db, intake_settings, assigned_volunteer_id="v-ma-xiaolan")

        decline = await intake.post(path(offered["_id"], "offer/decline"), json={}, headers=keys.headers("volunteer"))
        start = await intake.post(path(assigned["_id"], "work/start"), json={}, headers=keys.headers("volunteer"))
        close = await intake.post(path(assigned["_id"], "operator/close"), json={}, headers=keys.headers("volunteer"))

        assert (decline.status_code, decline.json()["code"]) == (403, "not-your-offer")
        assert (start.status_code, start.json()["code"]) == (403, "not-your-assignment")
        assert close.status_code == 403

    @pytest.mark.parametrize(
        ("action", "command_type", "body"),
        [
            ("work/start", c.WORK_START, {}),
            ("work/complete", c.WORK_COMPLETE, {"note": "米和油已送到"}),
            ("work/cannot-complete", c.WORK_CANNOT_COMPLETE, {"note": "药店关门", "reason": "closed"}),
        ],
    )
    async def test_assigned_volunteer_reports_work(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings, action: str, command_type: str, body: dict[str, str],
    ) -> None:  # fmt: skip
        document = await stored(db, intake_settings, status="in_progress")
        response = await intake.post(path(document["_id"], action), json=body, headers=keys.headers("volunteer"))
        assert response.status_code == 202
        payload = decode_data(await tap.wait_for(response.json()["command_id"]))
        assert isinstance(payload, c.COMMAND_PAYLOADS[command_type])
        assert isinstance(payload, c.StartWorkV1 | c.CompleteWorkV1 | c.CannotCompleteWorkV1)
        assert payload.volunteer_id == "v-li-jianguo"
        assert payload.note == body.get("note", "")


class TestResidentCommands:
    async def test_client_app_needs_the_residents_access_token(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings,
    ) -> None:  # fmt: skip
        document = await stored(db, intake_settings)
        without = await intake.post(path(document["_id"], "cancel"), json={}, headers=keys.headers("client"))
        wrong = await intake.post(
            path(document["_id"], "cancel"), json={}, headers={**keys.headers("client"), "X-Access-Token": "0" * 32}
        )
        token = access_token(id_key(intake_settings), document["_id"])
        right = await intake.post(
            path(document["_id"], "cancel"),
            json={"reason": "已经买到了"},
            headers={**keys.headers("client"), "X-Access-Token": token},
        )

        assert without.status_code == wrong.status_code == 403
        assert right.status_code == 202
        payload = decode_data(await tap.wait_for(right.json()["command_id"]))
        assert isinstance(payload, c.CancelRequestV1)
        assert payload.actor == c.Actor(role="resident", subject="+86138****1234")
        assert payload.reason == "已经买到了"

    async def test_rating_only_once_and_only_after_resolution(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings,
    ) -> None:  # fmt: skip
        open_request = await stored(db, intake_settings)
        resolved = await stored(db, intake_settings, status="resolved")
        rated = await stored(db, intake_settings, status="rated", rating={"stars": 5, "comment": ""})

        too_early = await intake.post(
            path(open_request["_id"], "rating"), json={"stars": 5}, headers=keys.headers("operator")
        )
        twice = await intake.post(path(rated["_id"], "rating"), json={"stars": 5}, headers=keys.headers("operator"))
        out_of_range = await intake.post(
            path(resolved["_id"], "rating"), json={"stars": 6}, headers=keys.headers("operator")
        )
        good = await intake.post(
            path(resolved["_id"], "rating"), json={"stars": 4, "comment": "谢谢"}, headers=keys.headers("operator")
        )

        assert (too_early.status_code, too_early.json()["code"]) == (409, "not-resolved")
        assert (twice.status_code, twice.json()["code"]) == (409, "already-rated")
        assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["field"] == "stars"
        assert good.status_code == 202
        payload = decode_data(await tap.wait_for(good.json()["command_id"]))
        assert isinstance(payload, c.RateRequestV1) and payload.stars == 4

    @pytest.mark.parametrize(
        ("action", "body", "command_type"),
        [
            ("notes", {"text": "请敲门大声一点"}, c.REQUEST_ADD_NOTE),
            ("report-not-done", {"reason": "没修好"}, c.REQUEST_REPORT_NOT_DONE),
        ],
    )
    async def test_notes_and_not_done_reports(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings, action: str, body: dict[str, str], command_type: str,
    ) -> None:  # fmt: skip
        document = await stored(db, intake_settings, status="resolved")
        token = access_token(id_key(intake_settings), document["_id"])
        response = await intake.post(
            path(document["_id"], action), json=body, headers={**keys.headers("client"), "X-Access-Token": token}
        )
        assert response.status_code == 202
        event = await tap.wait_for(response.json()["command_id"])
        assert event.type == command_type


class TestOperatorCommands:
    @pytest.mark.parametrize(
        ("action", "body", "command_type"),
        [
            ("operator/reassign", {"volunteer_id": "v-ma-xiaolan", "reason": "closer"}, c.OPERATOR_REASSIGN),
            ("operator/reassign", {}, c.OPERATOR_REASSIGN),
            ("operator/escalate", {"reason": "nobody free"}, c.OPERATOR_ESCALATE),
            ("operator/close", {"reason": "duplicate"}, c.OPERATOR_CLOSE),
            ("operator/priority", {"priority": "critical"}, c.OPERATOR_CHANGE_PRIORITY),
        ],
    )
    async def test_operator_commands_publish_their_envelope(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings, action: str, body: dict[str, str], command_type: str,
    ) -> None:  # fmt: skip
        document = await stored(db, intake_settings)
        response = await intake.post(path(document["_id"], action), json=body, headers=keys.headers("operator"))
        assert response.status_code == 202
        event = await tap.wait_for(response.json()["command_id"])
        assert event.type == command_type and event.request_id == document["_id"]
        payload = decode_data(event)
        assert payload.model_dump()["actor"] == {"role": "operator", "subject": keys.operator.split("_")[1]}

    async def test_reassign_to_a_volunteer_of_another_district_is_422(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        document = await stored(db, intake_settings)
        response = await intake.post(
            path(document["_id"], "operator/reassign"),
            json={"volunteer_id": "v-cx-bai"},
            headers=keys.headers("operator"),
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "volunteer_id"

    async def test_actor_in_the_body_is_refused_and_idempotency_key_gives_one_event_id(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        document = await stored(db, intake_settings)
        forged = await intake.post(
            path(document["_id"], "operator/escalate"),
            json={"actor": {"role": "platform_admin", "subject": "x"}},
            headers=keys.headers("operator"),
        )
        headers = {**keys.headers("operator"), "Idempotency-Key": "esc-1"}
        first = await intake.post(path(document["_id"], "operator/escalate"), json={}, headers=headers)
        again = await intake.post(path(document["_id"], "operator/escalate"), json={}, headers=headers)

        assert forged.status_code == 422 and forged.json()["errors"][0]["field"] == "actor"
        assert first.json()["command_id"] == again.json()["command_id"]

    async def test_unknown_request_is_404(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        response = await intake.post(path("f" * 32, "operator/close"), json={}, headers=keys.headers("operator"))
        assert response.status_code == 404
