"""Open311 GeoReport v2: shapes and names as the spec, JSON and XML, errors as [{code, description}]."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.envelope import decode_data
from shared.contracts.requests import RequestSubmittedV1
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.integration.intake.conftest import CommandTap, Keys
from tests.integration.intake.documents import request_document

pytestmark = pytest.mark.integration
BASE = "/open311/v2"
CZ = {"jurisdiction_id": "chengzhong"}
SERVICE_REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}  # fmt: skip


def assert_open311_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()
    assert isinstance(errors, list) and set(errors[0]) == {"code", "description"}
    assert errors[0]["code"] == status


class TestServices:
    async def test_services_list_in_json_and_xml(self, intake: httpx.AsyncClient) -> None:
        as_json = await intake.get(f"{BASE}/services.json", params=CZ, headers={"Accept-Language": "en"})
        as_xml = await intake.get(f"{BASE}/services.xml", params=CZ)

        services = as_json.json()
        assert as_json.status_code == 200
        groceries = next(s for s in services if s["service_code"] == "errand.groceries")
        assert set(groceries) == {
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        }
        assert groceries["service_name"] == "Buy rice, flour and cooking oil"
        assert groceries["type"] == "realtime" and groceries["metadata"] is True
        assert len({s["service_code"] for s in services}) == len(services)
        root = ET.fromstring(as_xml.content)
        assert as_xml.headers["content-type"].startswith("text/xml")
        assert root.tag == "services"
        assert {s.findtext("service_code") for s in root.findall("service")} == {s["service_code"] for s in services}

    async def test_service_definition_lists_the_grids_as_the_first_question(self, intake: httpx.AsyncClient) -> None:
        response = await intake.get(f"{BASE}/services/errand.groceries.json", params=CZ)
        definition = response.json()
        assert definition["service_code"] == "errand.groceries"
        grid = definition["attributes"][0]
        assert grid["code"] == "grid_id" and grid["required"] is True and grid["variable"] is True
        assert {"xgll-01", "rmje-01"} <= {v["key"] for v in grid["values"]}
        assert "xyx-01" not in {v["key"] for v in grid["values"]}
        xml = ET.fromstring((await intake.get(f"{BASE}/services/errand.groceries.xml", params=CZ)).content)
        assert xml.tag == "service_definition" and xml.findtext("attributes/attribute/code") == "grid_id"

    async def test_unknown_jurisdiction_or_service_is_an_open311_404(self, intake: httpx.AsyncClient) -> None:
        assert_open311_error(await intake.get(f"{BASE}/services.json", params={"jurisdiction_id": "atlantis"}), 404)
        assert_open311_error(await intake.get(f"{BASE}/services/errand.caviar.json", params=CZ), 404)
        assert_open311_error(await intake.get(f"{BASE}/services.json"), 400)
        xml = await intake.get(f"{BASE}/services.xml", params={"jurisdiction_id": "atlantis"})
        assert xml.status_code == 404 and ET.fromstring(xml.content).findtext("error/code") == "404"


class TestRequests:
    async def test_form_encoded_submission_with_attributes(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap
    ) -> None:
        form = {
            "api_key": keys.client, "jurisdiction_id": "chengzhong", "service_code": "errand.groceries",
            "attribute[grid_id]": "xgll-02", "phone": "13900005678", "first_name": "生兰", "last_name": "李",
            "description": "一袋面粉",
        }  # fmt: skip
        response = await intake.post(f"{BASE}/requests.json", data=form)

        assert response.status_code == 201
        [created] = response.json()
        assert set(created) >= {"service_request_id", "service_notice"}
        data = decode_data(await tap.wait_for(f"{created['service_request_id']}:submitted"))
        assert isinstance(data, RequestSubmittedV1)
        assert (data.grid_id, data.resident_phone, data.resident_name) == ("xgll-02", "+8613900005678", "李 生兰")
        token = await intake.get(f"{BASE}/tokens/{created['token']}.json", params={**CZ, "api_key": keys.client})
        assert token.json() == [{"service_request_id": created["service_request_id"], "token": created["token"]}]
        pending = await intake.get(
            f"{BASE}/requests/{created['service_request_id']}.json", params={**CZ, "api_key": keys.client}
        )
        assert pending.json()[0]["status"] == "open"

    async def test_xml_submission_with_address_id(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        form = {"api_key": keys.operator, "jurisdiction_id": "chengzhong", "service_code": "repair.pipe",
                "address_id": "rmje-01", "phone": "13900005678"}  # fmt: skip
        response = await intake.post(f"{BASE}/requests.xml", data=form)
        assert response.status_code == 201
        assert ET.fromstring(response.content).findtext("request/service_request_id")

    @pytest.mark.parametrize(
        ("form", "status"),
        [
            ({"api_key": "bad", "jurisdiction_id": "chengzhong", "service_code": "errand.groceries",
              "address_id": "xgll-01", "phone": "13900005678"}, 403),
            ({"service_code": "errand.groceries", "address_id": "xgll-01", "phone": "13900005678"}, 400),
            ({"jurisdiction_id": "chengzhong", "service_code": "errand.caviar", "address_id": "xgll-01",
              "phone": "13900005678"}, 400),
            ({"jurisdiction_id": "chengzhong", "service_code": "errand.groceries", "phone": "13900005678"}, 400),
            ({"jurisdiction_id": "chengzhong", "service_code": "errand.groceries", "address_id": "xgll-01"}, 400),
            ({"jurisdiction_id": "chengzhong", "service_code": "errand.groceries", "address_id": "xgll-01",
              "phone": "555"}, 400),
            ({"jurisdiction_id": "chengzhong", "service_code": "errand.groceries", "address_id": "xgll-01",
              "phone": "13900005678", "lat": "north"}, 400),
        ],
    )  # fmt: skip
    async def test_bad_submissions_answer_open311_errors(
        self, intake: httpx.AsyncClient, keys: Keys, form: dict[str, str], status: int
    ) -> None:
        response = await intake.post(f"{BASE}/requests.json", data={"api_key": keys.client, **form})
        assert_open311_error(response, status)

    async def test_list_and_read_requests(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        key = intake_settings.id_signing_key.get_secret_value().encode()
        done = request_document(key, status="resolved", menu_item_code="paperwork.pension")
        going = request_document(key, status="in_progress", menu_item_code="paperwork.pension")
        await db.requests.insert_many([done, going])
        params = {**CZ, "api_key": keys.operator, "service_code": "paperwork.pension"}

        everything = (await intake.get(f"{BASE}/requests.json", params=params)).json()
        closed = (await intake.get(f"{BASE}/requests.json", params={**params, "status": "closed"})).json()
        both = f"{done['_id']},{going['_id']}"
        by_id_params = {**CZ, "api_key": keys.operator, "service_request_id": both}
        by_id = (await intake.get(f"{BASE}/requests.json", params=by_id_params)).json()
        one = (await intake.get(f"{BASE}/requests/{done['_id']}.json", params={**CZ, "api_key": keys.operator})).json()
        xml = ET.fromstring(
            (await intake.get(f"{BASE}/requests/{done['_id']}.xml", params={**CZ, "api_key": keys.operator})).content
        )

        assert {r["service_request_id"] for r in everything} >= {done["_id"], going["_id"]}
        assert {r["service_request_id"] for r in closed} & {done["_id"], going["_id"]} == {done["_id"]}
        assert {r["service_request_id"] for r in by_id} == {done["_id"], going["_id"]}
        assert set(one[0]) == SERVICE_REQUEST_FIELDS
        assert (one[0]["status"], one[0]["service_name"]) == ("closed", "养老保险认证代办")
        assert "phone" not in str(one) and "王仁柱" not in str(one)
        assert xml.tag == "service_requests" and xml.findtext("request/status") == "closed"

    async def test_another_districts_key_sees_no_jurisdiction(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document], intake_settings: IntakeSettings
    ) -> None:
        key = intake_settings.id_signing_key.get_secret_value().encode()
        document = request_document(key)
        await db.requests.insert_one(document)
        other = {**CZ, "api_key": keys.chengxi_operator}

        assert_open311_error(await intake.get(f"{BASE}/requests.json", params=other), 404)
        assert_open311_error(await intake.get(f"{BASE}/requests/{document['_id']}.json", params=other), 404)
        assert_open311_error(await intake.get(f"{BASE}/tokens/{document['_id']}.json", params=other), 404)
        own_district = {"jurisdiction_id": "chengxi", "api_key": keys.chengxi_operator}
        own = await intake.get(f"{BASE}/requests/{document['_id']}.json", params=own_district)
        assert_open311_error(own, 404)
        form = {"api_key": keys.chengxi_client, "jurisdiction_id": "chengzhong", "service_code": "errand.groceries",
                "address_id": "xgll-01", "phone": "13900005678"}  # fmt: skip
        assert_open311_error(await intake.post(f"{BASE}/requests.json", data=form), 404)
