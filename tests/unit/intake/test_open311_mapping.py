"""Open311 shapes: statuses collapse to open/closed, XML mirrors the JSON with the spec's element names."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest

from services.intake.open311 import mapping
from services.intake.open311.formats import to_xml

ITEM = {
    "code": "errand.medicine",
    "community_id": "c1",
    "name_zh": "代购药品",
    "name_en": "Buy medicine",
    "category": "errand",
    "attributes": [
        {"code": "size", "datatype": "singlevaluelist", "required": True, "values": [{"key": "s", "name": "S"}]}
    ],
}


@pytest.mark.parametrize(
    ("status", "expected"),
    [("submitted", "open"), ("assigned", "open"), ("escalated", "open"), ("resolved", "closed"),
     ("rated", "closed"), ("cancelled", "closed"), ("expired", "closed"), ("rejected", "closed")],
)  # fmt: skip
def test_statuses_collapse_to_open_or_closed(status: str, expected: str) -> None:
    record = mapping.service_request({"_id": "r1", "status": status}, ITEM, english=True)
    assert record["status"] == expected
    assert record["status_notes"]


def test_service_request_has_the_spec_fields_in_china_time() -> None:
    document = {
        "_id": "r1",
        "status": "assigned",
        "menu_item_code": "errand.medicine",
        "submitted_at": datetime(2026, 1, 2, 1, 0, tzinfo=UTC),
        "grid_id": "g1",
    }
    record = mapping.service_request(document, ITEM, english=False)
    assert record["service_request_id"] == "r1"
    assert record["service_name"] == "代购药品"
    assert record["requested_datetime"] == "2026-01-02T09:00:00+08:00"
    assert record["address_id"] == "g1"
    assert set(record) >= {"status_notes", "updated_datetime", "expected_datetime", "agency_responsible", "media_url"}


def test_definition_asks_for_the_grid_first_then_the_item_questions() -> None:
    grids = [{"_id": "g1", "name_zh": "第一网格", "name_en": "Grid 1"}]
    definition = mapping.definition(ITEM, grids, english=True)
    assert [a["code"] for a in definition["attributes"]] == ["grid_id", "size"]
    assert definition["attributes"][0]["values"] == [{"key": "g1", "name": "Grid 1"}]
    assert [a["order"] for a in definition["attributes"]] == [1, 2]


def test_status_filter_maps_to_internal_statuses() -> None:
    assert mapping.statuses_of({"open", "closed"}) is None
    assert "resolved" in (mapping.statuses_of({"closed"}) or [])
    assert "assigned" in (mapping.statuses_of({"open"}) or [])
    assert "resolved" not in (mapping.statuses_of({"open"}) or [])


def test_xml_uses_the_spec_element_names() -> None:
    services = ET.fromstring(to_xml("services", mapping.services([ITEM, ITEM], english=True)))
    assert services.tag == "services"
    assert [s.findtext("service_code") for s in services.findall("service")] == ["errand.medicine"]
    assert services.find("service/metadata").text == "true"  # type: ignore[union-attr]

    definition = ET.fromstring(to_xml("definition", mapping.definition(ITEM, [], english=True)))
    assert definition.tag == "service_definition"
    assert [a.findtext("code") for a in definition.findall("attributes/attribute")] == ["grid_id", "size"]
    assert definition.findtext("attributes/attribute[2]/values/value/key") == "s"

    errors = ET.fromstring(to_xml("errors", [{"code": 403, "description": "bad key"}]))
    assert errors.findtext("error/code") == "403"
