"""Reads: detail with timeline, operator search with cursors, a volunteer's own, a resident's own."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from shared.request_ids import access_token
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import Keys
from tests.integration.intake.documents import request_document

pytestmark = pytest.mark.integration


def id_key(settings: IntakeSettings) -> bytes:
    return settings.id_signing_key.get_secret_value().encode()


class TestDetail:
    async def test_detail_has_the_timeline_and_personal_data_only_for_staff(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        document = request_document(id_key(intake_settings))
        await db.requests.insert_one(document)
        url = f"/v1/districts/chengzhong/requests/{document['_id']}"

        operator = (await intake.get(url, headers=keys.headers("operator"))).json()
        client = (await intake.get(url, headers=keys.headers("client"))).json()
        assigned = (await intake.get(url, headers=keys.headers("volunteer"))).json()
        stranger = await intake.get(url, headers=keys.headers("other_volunteer"))

        assert [event["type"] for event in operator["timeline"]] == ["request.received", "request.assigned"]
        assert operator["resident"]["phone"] == "+8613800001234"
        assert "resident" not in client and client["status"] == "assigned"
        assert assigned["resident"]["name"] == "王仁柱"
        assert stranger.status_code == 404
        for view in (operator, client):
            assert not {"outbox", "processed_event_ids", "decisions", "version"} & set(view)


@pytest.fixture(scope="class")
async def batch(db: AsyncDatabase[Document], intake_settings: IntakeSettings) -> str:
    """Seven requests of a grid of their own, one a minute, two overdue, one escalated; and one of chengxi."""
    start = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    past = datetime.now(UTC) - timedelta(minutes=5)
    documents = [
        request_document(
            id_key(intake_settings),
            grid_id="search-grid",
            submitted_at=start + timedelta(minutes=number),
            sla_due_at=past if number in (1, 4) else None,
            status="escalated" if number == 6 else "assigned",
            level="community" if number == 6 else "grid",
        )
        for number in range(7)
    ]
    documents.append(request_document(id_key(intake_settings), "chengxi", grid_id="search-grid"))
    await db.requests.insert_many(documents)
    return "search-grid"


class TestSearch:
    async def test_pages_follow_the_cursor_newest_first_without_gaps(
        self, intake: httpx.AsyncClient, keys: Keys, batch: str
    ) -> None:
        seen: list[str] = []
        times: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"grid_id": batch, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = (
                await intake.get("/v1/districts/chengzhong/requests", params=params, headers=keys.headers("operator"))
            ).json()
            seen += [item["request_id"] for item in page["items"]]
            times += [item["submitted_at"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert len(seen) == len(set(seen)) == 7
        assert times == sorted(times, reverse=True)

    @pytest.mark.parametrize(
        ("params", "count"),
        [
            ({"overdue": "true"}, 2),
            ({"overdue": "false"}, 5),
            ({"status": "escalated"}, 1),
            ({"status": ["escalated", "assigned"]}, 7),
            ({"level": "community"}, 1),
            ({"community_id": "xianggelila"}, 7),
            ({"menu_item_code": "errand.medicine"}, 0),
            ({"submitted_from": "2026-02-01T08:02:00+00:00", "submitted_to": "2026-02-01T08:05:00+00:00"}, 3),
        ],
    )
    async def test_filters(
        self, intake: httpx.AsyncClient, keys: Keys, batch: str, params: dict[str, str | list[str]], count: int
    ) -> None:
        response = await intake.get(
            "/v1/districts/chengzhong/requests", params={"grid_id": batch, **params}, headers=keys.headers("operator")
        )
        assert response.status_code == 200
        assert len(response.json()["items"]) == count
        assert {item["district_id"] for item in response.json()["items"]} <= {"chengzhong"}

    async def test_a_foreign_cursor_is_422(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        response = await intake.get(
            "/v1/districts/chengzhong/requests", params={"cursor": "garbage"}, headers=keys.headers("operator")
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "cursor"


class TestVolunteerViews:
    async def test_a_volunteer_lists_only_their_own_offers_and_assignments(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        mine_offered = request_document(
            id_key(intake_settings),
            status="offered",
            assigned_volunteer_id=None,
            offered_volunteer_ids=["v-li-jianguo"],
        )
        theirs_offered = request_document(
            id_key(intake_settings), status="offered", assigned_volunteer_id=None, offered_volunteer_ids=["v-zhao-min"]
        )
        mine_assigned = request_document(id_key(intake_settings), status="in_progress")
        mine_done = request_document(id_key(intake_settings), status="resolved")
        await db.requests.insert_many([mine_offered, theirs_offered, mine_assigned, mine_done])

        offers = (
            await intake.get("/v1/districts/chengzhong/volunteers/me/offers", headers=keys.headers("volunteer"))
        ).json()
        work = (
            await intake.get("/v1/districts/chengzhong/volunteers/me/assignments", headers=keys.headers("volunteer"))
        ).json()
        as_operator = await intake.get(
            "/v1/districts/chengzhong/volunteers/me/offers", headers=keys.headers("operator")
        )

        offer_ids = {item["request_id"] for item in offers}
        work_ids = {item["request_id"] for item in work}
        assert mine_offered["_id"] in offer_ids and theirs_offered["_id"] not in offer_ids
        assert mine_assigned["_id"] in work_ids and mine_done["_id"] not in work_ids
        assert as_operator.status_code == 403


class TestResidentViews:
    async def test_a_resident_reads_their_requests_with_phone_and_any_token(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        # A number of its own: other tests of this run share the database and may use the same resident.
        national = f"139{secrets.randbelow(10**8):08d}"
        dashed = f"{national[:3]}-{national[3:7]}-{national[7:]}"
        resident = {"name": "李生兰", "phone": f"+86{national}", "language": "zh"}
        first = request_document(id_key(intake_settings), resident=resident)
        second = request_document(id_key(intake_settings), resident=resident, status="resolved")
        someone_else = request_document(id_key(intake_settings))
        await db.requests.insert_many([first, second, someone_else])
        token = access_token(id_key(intake_settings), first["_id"])
        url = "/v1/districts/chengzhong/residents/requests"

        mine = await intake.get(
            url,
            params={"phone": dashed, "access_token": token},
            headers=keys.headers("client"),
        )
        header_token = await intake.get(
            url, params={"phone": national}, headers={**keys.headers("client"), "X-Access-Token": token}
        )
        wrong_phone = await intake.get(
            url, params={"phone": "13800001234", "access_token": token}, headers=keys.headers("client")
        )
        bad_phone = await intake.get(
            url, params={"phone": "hello", "access_token": token}, headers=keys.headers("client")
        )

        assert mine.status_code == 200
        assert {r["request_id"] for r in mine.json()} == {first["_id"], second["_id"]}
        assert header_token.status_code == 200
        assert wrong_phone.status_code == 404
        assert bad_phone.status_code == 422 and bad_phone.json()["errors"][0]["field"] == "phone"
