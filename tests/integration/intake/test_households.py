"""Households: admin CRUD and import, filing for one without a phone, the desk's look-up by phone, ratings and
"not done" taken on the phone, and what a volunteer reads of the household. Every class has a second district."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import importer
from services.intake.repository import IntakeRepository
from shared.contracts import commands as c
from shared.contracts.envelope import decode_data
from shared.contracts.requests import RequestSubmittedV1, RequestSubmittedV2
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import CommandTap, Keys
from tests.integration.intake.documents import request_document

pytestmark = pytest.mark.integration
BASE = "/v1/districts/chengzhong"
LOOKUP = f"{BASE}/desk/callers"
# From deploy/demo/chengzhong.yaml: two households of 3栋2单元 whose building leader answers 139 0000 0101.
NO_PHONE = "r-xgll-01-3-2-401"
NO_PHONE_EITHER = "r-xgll-01-3-2-402"
LEADER_PHONE = "139 0000 0101"
HOUSEHOLD: dict[str, Any] = {
    "grid_id": "xgll-02",
    "building": "8栋",
    "unit": "1单元",
    "household": "303",
    "address": "香格里拉社区8栋1单元303",
    "name": "赵桂芳",
    "proxy": {"kind": "family", "name": "赵磊", "phone": "13900005303"},
    "vulnerabilities": ["mobility"],
    "linked_volunteer_id": "v-zhao-min",
}


def id_key(settings: IntakeSettings) -> bytes:
    return settings.id_signing_key.get_secret_value().encode()


class TestResidentsCrud:
    async def test_a_household_without_a_phone_is_created_read_updated_and_deleted(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document]
    ) -> None:
        admin, url = keys.headers("admin"), f"{BASE}/residents/r-crud-303"

        created = await intake.put(url, json=HOUSEHOLD, headers=admin)
        again = await intake.put(url, json=HOUSEHOLD, headers=admin)
        moved = await intake.put(url, json={**HOUSEHOLD, "household": "304"}, headers=admin)
        read = await intake.get(url, headers=keys.headers("operator"))
        stored = await db.residents.find_one({"_id": "r-crud-303"})

        assert (created.status_code, again.status_code, moved.status_code) == (201, 200, 200)
        assert stored is not None
        assert stored["phone"] is None and stored["proxy"]["phone"] == "+8613900005303"
        assert stored["proxy_phone"] == "+8613900005303"  # top level, for the desk's indexed look-up
        assert (stored["district_id"], stored["community_id"]) == ("chengzhong", "xianggelila")
        assert stored["household"] == "304"
        assert stored["updated_at"] is not None
        assert read.json()["proxy"] == {"kind": "family", "name": "赵磊", "phone": "+8613900005303"}
        assert (await intake.delete(url, headers=admin)).status_code == 204
        assert await db.residents.find_one({"_id": "r-crud-303"}) is None

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"proxy": None}, "body"),  # no phone and no proxy: nobody to tell
            ({"phone": "12345"}, "phone"),
            ({"proxy": {"kind": "family", "name": "x", "phone": "nope"}}, "proxy.phone"),
            ({"linked_volunteer_id": "v-cx-bai"}, "linked_volunteer_id"),  # chengxi's volunteer
            ({"grid_id": "xyx-01"}, "grid_id"),  # chengxi's grid
        ],
    )
    async def test_bad_households_are_422_naming_the_field(
        self, intake: httpx.AsyncClient, keys: Keys, change: dict[str, Any], field: str
    ) -> None:
        body = {**HOUSEHOLD, **change}
        response = await intake.put(f"{BASE}/residents/r-bad", json=body, headers=keys.headers("admin"))
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()

    async def test_the_second_district_neither_reads_nor_takes_over_a_household(
        self, intake: httpx.AsyncClient, keys: Keys
    ) -> None:
        read = await intake.get(f"{BASE}/residents/{NO_PHONE}", headers=keys.headers("chengxi_operator"))
        own_url = f"/v1/districts/chengxi/residents/{NO_PHONE}"
        taken = await intake.put(
            own_url,
            json={**HOUSEHOLD, "grid_id": "xyx-01", "linked_volunteer_id": None},
            headers=keys.headers("platform"),
        )
        assert read.status_code == 404
        assert taken.status_code == 409

    async def test_import_rows_with_proxy_columns_is_idempotent_and_names_bad_rows(
        self, db: AsyncDatabase[Document]
    ) -> None:
        records = [
            {"id": "r-imp-1", "grid_id": "xgll-01", "building": "7栋", "unit": "1单元", "household": "101",
             "address": "香格里拉社区7栋1单元101", "name": "刘桂英", "phone": "", "proxy_kind": "building_leader",
             "proxy_name": "李建国", "proxy_phone": "13900000101", "vulnerabilities": "lives_alone;sight"},
            {"id": "r-imp-2", "grid_id": "xgll-01", "address": "香格里拉社区7栋1单元102", "name": "周大爷",
             "phone": "", "proxy_kind": "", "proxy_name": "", "proxy_phone": ""},
        ]  # fmt: skip
        repo = IntakeRepository(db)

        first = await importer.import_rows(
            repo, district_id="chengzhong", kind="residents", records=records, from_csv=True, roster=None
        )
        second = await importer.import_rows(
            repo, district_id="chengzhong", kind="residents", records=records, from_csv=True, roster=None
        )

        assert (first.created, len(first.errors)) == (1, 1)
        assert "row 3 (r-imp-2)" in first.errors[0] and "proxy contact" in first.errors[0]
        assert (second.created, second.updated, second.unchanged) == (0, 0, 1)
        stored = await db.residents.find_one({"_id": "r-imp-1"})
        assert stored is not None and stored["proxy"]["phone"] == "+8613900000101"
        assert stored["vulnerabilities"] == ["lives_alone", "sight"]


class TestFilingForAHousehold:
    async def test_an_operator_files_for_a_household_without_a_phone(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap
    ) -> None:
        response = await intake.post(
            f"{BASE}/requests",
            json={"menu_item_code": "errand.medicine", "grid_id": "xgll-01", "resident_id": NO_PHONE,
                  "text": "楼长打电话：马奶奶的降压药吃完了", "priority": "high"},
            headers=keys.headers("operator"),
        )  # fmt: skip

        assert response.status_code == 202, response.text
        event = await tap.wait_for(f"{response.json()['request_id']}:submitted")
        data = decode_data(event)
        assert event.schema_version == 2 and isinstance(data, RequestSubmittedV2)
        assert (data.resident_id, data.resident_phone, data.resident_name) == (NO_PHONE, None, "马秀兰")
        assert (data.resident_language, data.linked_heart_volunteer_id) == ("zh", "v-li-jianguo")
        assert data.priority == "high" and data.submitted_by is not None and data.submitted_by.role == "operator"

    async def test_a_household_with_a_phone_still_travels_as_v1(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap
    ) -> None:
        response = await intake.post(
            f"{BASE}/requests",
            json={"menu_item_code": "errand.groceries", "grid_id": "xgll-01", "resident_id": "r-xgll-01-5-1-101"},
            headers=keys.headers("operator"),
        )
        event = await tap.wait_for(f"{response.json()['request_id']}:submitted")
        data = decode_data(event)
        assert event.schema_version == 1 and isinstance(data, RequestSubmittedV1)
        assert (data.resident_phone, data.resident_id) == ("+8613900000201", "r-xgll-01-5-1-101")

    @pytest.mark.parametrize(
        ("role", "overrides", "field"),
        [
            ("operator", {"resident_id": None}, "resident_phone"),  # neither a phone nor a household
            ("operator", {"grid_id": "xgll-02"}, "resident_id"),  # the household is in another grid
            ("operator", {"resident_id": "r-nobody"}, "resident_id"),
            ("client", {}, "resident_id"),  # client apps give the resident's phone, not a household id
            ("chengxi_operator", {"grid_id": "xyx-01"}, "resident_id"),  # another district's household
        ],
    )
    async def test_without_a_phone_the_household_must_be_one_of_the_grid(
        self, intake: httpx.AsyncClient, keys: Keys, role: str, overrides: dict[str, Any], field: str
    ) -> None:
        district = "chengxi" if role.startswith("chengxi") else "chengzhong"
        body = {"menu_item_code": "errand.groceries", "grid_id": "xgll-01", "resident_id": NO_PHONE}
        response = await intake.post(
            f"/v1/districts/{district}/requests",
            json={k: v for k, v in {**body, **overrides}.items() if v is not None},
            headers=keys.headers(role),
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]


async def stored_request(db: AsyncDatabase[Document], settings: IntakeSettings, **fields: Any) -> Document:
    document = request_document(id_key(settings), **fields)
    await db.requests.insert_one(document)
    return document


def for_household(resident_id: str, **fields: Any) -> dict[str, Any]:
    """A request as dispatch stores it when filed for a household without a phone."""
    return {
        "resident": {"name": "马秀兰", "phone": None, "language": "zh", "id": resident_id},
        "resident_id": resident_id,
        **fields,
    }


class TestDeskLookup:
    async def test_the_building_leaders_phone_finds_the_households_they_speak_for_with_their_requests(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        done = await stored_request(
            db, intake_settings, **for_household(NO_PHONE, status="resolved", menu_item_code="errand.medicine")
        )

        response = await intake.get(LOOKUP, params={"phone": LEADER_PHONE}, headers=keys.headers("operator"))

        assert response.status_code == 200
        found = response.json()
        assert found["phone"] == "+86139****0101"
        by_id = {h["resident_id"]: h for h in found["households"]}
        assert {NO_PHONE, NO_PHONE_EITHER} <= set(by_id)
        household = by_id[NO_PHONE]
        assert (household["matched_as"], household["name"], household["phone"]) == ("proxy", "马*兰", None)
        assert "401" not in household["address"] and household["household"] == "401"
        assert household["grid"] == {"id": "xgll-01", "name_zh": "香格里拉第一网格", "name_en": "Shangri-La Grid 1"}
        recent = {r["request_id"]: r for r in household["recent_requests"]}
        assert recent[done["_id"]]["menu_item"]["name_zh"] == "代购药品"
        assert recent[done["_id"]]["status"] == "resolved"

    async def test_a_resident_calling_from_their_own_phone_comes_first_with_what_they_filed_by_phone(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        own = "+8613900000201"
        by_phone = await stored_request(
            db, intake_settings, resident={"name": "王仁柱", "phone": own}, resident_phone=own, status="resolved"
        )

        response = await intake.get(LOOKUP, params={"phone": "13900000201"}, headers=keys.headers("operator"))

        households = response.json()["households"]
        assert [(h["resident_id"], h["matched_as"]) for h in households] == [("r-xgll-01-5-1-101", "resident")]
        assert households[0]["proxy"]["phone"] == "+86139****0202"
        filed = response.json()["requests_by_phone"]
        assert [(r["request_id"], r["menu_item"]["name_en"]) for r in filed] == [
            (by_phone["_id"], "Buy rice, flour and cooking oil")
        ]

    async def test_the_second_district_does_not_find_them_and_clients_may_not_look(
        self, intake: httpx.AsyncClient, keys: Keys
    ) -> None:
        other = await intake.get(
            "/v1/districts/chengxi/desk/callers",
            params={"phone": LEADER_PHONE},
            headers=keys.headers("chengxi_operator"),
        )
        crossing = await intake.get(LOOKUP, params={"phone": LEADER_PHONE}, headers=keys.headers("chengxi_operator"))
        client = await intake.get(LOOKUP, params={"phone": LEADER_PHONE}, headers=keys.headers("client"))
        bad = await intake.get(LOOKUP, params={"phone": "call me"}, headers=keys.headers("operator"))

        assert other.status_code == 200 and other.json()["households"] == []
        assert crossing.status_code == 404
        assert client.status_code == 403
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"


class TestTakenOnThePhone:
    async def test_an_operator_records_a_rating_and_a_not_done_on_the_residents_behalf(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document],
        intake_settings: IntakeSettings,
    ) -> None:  # fmt: skip
        rated = await stored_request(db, intake_settings, **for_household(NO_PHONE, status="resolved"))
        not_done = await stored_request(db, intake_settings, **for_household(NO_PHONE, status="resolved"))
        operator = keys.headers("operator")

        rating = await intake.post(
            f"{BASE}/requests/{rated['_id']}/rating", json={"stars": 5, "comment": "电话里说很满意"}, headers=operator
        )
        report = await intake.post(
            f"{BASE}/requests/{not_done['_id']}/report-not-done", json={"reason": "药没送到"}, headers=operator
        )
        note = await intake.post(
            f"{BASE}/requests/{rated['_id']}/notes", json={"text": "楼长代为来电"}, headers=operator
        )

        assert (rating.status_code, report.status_code, note.status_code) == (202, 202, 202)
        key_id = keys.operator.split("_")[1]
        for accepted, model in ((rating, c.RateRequestV1), (report, c.ReportNotDoneV1)):
            payload = decode_data(await tap.wait_for(accepted.json()["command_id"]))
            assert isinstance(payload, model)
            assert payload.actor == c.Actor(role="operator", subject=f"{key_id} on behalf of the resident")
        note_payload = decode_data(await tap.wait_for(note.json()["command_id"]))
        assert isinstance(note_payload, c.AddNoteV1)
        assert note_payload.actor == c.Actor(role="operator", subject=key_id)  # the operator's own words

    async def test_the_second_districts_operator_cannot_rate_it(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        resolved = await stored_request(db, intake_settings, **for_household(NO_PHONE, status="resolved"))
        response = await intake.post(
            f"{BASE}/requests/{resolved['_id']}/rating", json={"stars": 1}, headers=keys.headers("chengxi_operator")
        )
        assert response.status_code == 404


class TestWhatTheVolunteerReads:
    async def test_the_assigned_volunteer_gets_the_door_and_the_proxys_number_an_offered_one_the_neighbourhood(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        assigned = await stored_request(db, intake_settings, **for_household(NO_PHONE))  # to v-li-jianguo
        offered = await stored_request(
            db, intake_settings,
            **for_household(
                NO_PHONE, status="offered", assigned_volunteer_id=None, offered_volunteer_ids=["v-zhao-min"]
            ),
        )  # fmt: skip

        def read(request: Document, role: str) -> Any:
            return intake.get(f"{BASE}/requests/{request['_id']}", headers=keys.headers(role))

        doing = (await read(assigned, "volunteer")).json()
        deciding = (await read(offered, "other_volunteer")).json()
        staff = (await read(assigned, "operator")).json()
        elsewhere = await read(assigned, "chengxi_operator")

        assert doing["household"]["address"] == "香格里拉社区3栋2单元401"
        assert doing["household"]["proxy"] == {"kind": "building_leader", "name": "李建国", "phone": "+8613900000101"}
        assert doing["household"]["has_phone"] is False and "name" not in doing["household"]
        assert deciding["household"]["address"].endswith("***") and "proxy" not in deciding["household"]
        assert "401" not in deciding["household"]["address"]
        assert staff["household"]["name"] == "马秀兰"
        assert staff["household"]["vulnerabilities"] == ["lives_alone", "hearing"]
        assert elsewhere.status_code == 404
