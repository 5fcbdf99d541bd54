"""Households (resident records): what the admin accepts, how import rows carry them, and what each reader sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.admin import rows
from services.intake import desk, views
from services.intake.reference_models import ResidentFields
from shared.contracts.requests import RequestSubmittedV1, RequestSubmittedV2

HOUSEHOLD: dict[str, Any] = {
    "grid_id": "xgll-01",
    "building": "3栋",
    "unit": "2单元",
    "household": "401",
    "address": "香格里拉社区3栋2单元401",
    "name": "马秀兰",
    "proxy": {"kind": "building_leader", "name": "李建国", "phone": "139 0000 0101"},
    "vulnerabilities": ["lives_alone", "hearing"],
}


def errors_of(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ResidentFields.model_validate(body)
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in caught.value.errors()]


class TestValidation:
    def test_a_household_without_a_phone_is_reached_through_its_proxy(self) -> None:
        household = ResidentFields.model_validate(HOUSEHOLD)

        assert household.phone is None
        assert household.proxy is not None and household.proxy.phone == "+8613900000101"
        assert household.language == "zh"

    def test_phones_are_stored_as_e164(self) -> None:
        household = ResidentFields.model_validate({**HOUSEHOLD, "phone": "0086 139-0000-0201", "proxy": None})
        assert household.phone == "+8613900000201"

    def test_no_phone_and_no_proxy_is_refused_with_the_reason(self) -> None:
        assert any("needs a proxy contact" in e for e in errors_of({**HOUSEHOLD, "proxy": None}))

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"phone": "12345"}, "phone"),
            ({"proxy": {**HOUSEHOLD["proxy"], "phone": "call the leader"}}, "proxy.phone"),
            ({"proxy": {**HOUSEHOLD["proxy"], "kind": "neighbour"}}, "proxy.kind"),
            ({"proxy": {"kind": "family", "phone": "13900000202"}}, "proxy.name"),
            ({"language": "fr"}, "language"),
            ({"vulnerabilities": ["rich"]}, "vulnerabilities.0"),
            ({"address": ""}, "address"),
            ({"name": ""}, "name"),
            ({"linked_heart_volunteer_id": "v-1"}, "linked_heart_volunteer_id"),  # the field is linked_volunteer_id
            ({"household": "4" * 51}, "household"),
        ],
    )
    def test_bad_fields_are_named(self, change: dict[str, Any], field: str) -> None:
        assert any(e.startswith(f"{field}:") for e in errors_of({**HOUSEHOLD, **change}))

    def test_a_vulnerability_is_listed_once(self) -> None:
        assert any("at most once" in e for e in errors_of({**HOUSEHOLD, "vulnerabilities": ["hearing", "hearing"]}))

    def test_missing_optional_fields_take_defaults_so_readers_can_rely_on_them(self) -> None:
        minimal = ResidentFields.model_validate(
            {"grid_id": "g", "address": "某小区1号", "name": "王", "phone": "13900000999"}
        )
        assert (minimal.building, minimal.unit, minimal.household) == ("", "", "")
        assert (minimal.proxy, minimal.vulnerabilities, minimal.linked_volunteer_id) == (None, [], None)


class TestImportRows:
    def test_the_proxy_travels_in_three_csv_columns_and_back(self) -> None:
        values = rows.from_csv(
            "residents",
            {"id": "r-1", "grid_id": "xgll-01", "address": "香格里拉社区3栋2单元401", "name": "马秀兰", "phone": "",
             "proxy_kind": "family", "proxy_name": "马丽", "proxy_phone": "13900000202",
             "vulnerabilities": "lives_alone;cannot_read"},
        )  # fmt: skip
        household = ResidentFields.model_validate({k: v for k, v in values.items() if k != "id"})
        assert household.proxy is not None and household.proxy.kind == "family"
        assert household.vulnerabilities == ["lives_alone", "cannot_read"]

        document = {"_id": "r-1", "district_id": "d", **household.model_dump(mode="json"), "updated_at": "x"}
        cells = rows.to_csv("residents", rows.to_row("residents", document))
        assert cells["proxy_kind"] == "family"
        assert cells["proxy_phone"].endswith("+8613900000202")  # behind the spreadsheet guard's quote
        assert "updated_at" not in cells and "proxy" not in cells
        assert set(cells) <= set(rows.csv_columns("residents"))
        again = rows.from_csv("residents", cells)
        assert ResidentFields.model_validate({k: v for k, v in again.items() if k != "id"}) == household


STORED: dict[str, Any] = {
    "_id": "r-1",
    "district_id": "chengzhong",
    **ResidentFields.model_validate(HOUSEHOLD).model_dump(mode="json"),
}


class TestWhatEachReaderSees:
    def test_staff_see_the_whole_household(self) -> None:
        view = views.household(STORED, "staff")
        assert view.address == "香格里拉社区3栋2单元401" and view.name == "马秀兰"
        assert view.proxy is not None and view.proxy.phone == "+8613900000101"
        assert view.has_phone is False

    def test_the_assigned_volunteer_gets_the_door_and_whom_to_call_but_not_the_name_or_phone(self) -> None:
        view = views.household(STORED, "assigned")
        assert (view.building, view.unit, view.household) == ("3栋", "2单元", "401")
        assert view.proxy is not None and view.proxy.phone == "+8613900000101"
        assert view.vulnerabilities == ["lives_alone", "hearing"]
        assert view.phone is None and view.name is None

    def test_a_volunteer_deciding_on_an_offer_sees_only_the_neighbourhood(self) -> None:
        view = views.household(STORED, "offered")
        assert view.address.endswith("***") and "401" not in view.address
        assert (view.building, view.household, view.proxy, view.vulnerabilities) == (None, None, None, [])

    def test_records_missing_optional_fields_are_read_all_the_same(self) -> None:
        view = views.household({"_id": "r-old", "grid_id": "g", "phone": "+8613900000999"}, "assigned")
        assert view.has_phone is True and view.proxy is None and view.address == ""


NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def request(request_id: str, minutes_ago: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": request_id,
        "status": "resolved",
        "community_id": "xianggelila",
        "menu_item_code": "errand.groceries",
        "submitted_at": NOW - timedelta(minutes=minutes_ago),
        **fields,
    }


class TestDeskLookup:
    def test_names_are_masked_to_confirm_not_to_read_out(self) -> None:
        names = ("马秀兰", "王鹏", "欧阳小明", "A", "")
        assert [desk.mask_name(n) for n in names] == ["马*兰", "王*", "欧**明", "A", ""]

    def test_a_household_shows_masked_and_its_newest_requests_with_item_names(self) -> None:
        items = {"xianggelila:errand.groceries": {"name_zh": "代购米面油", "name_en": "Buy rice, flour and oil"}}
        requests = [request(f"q{i}", minutes_ago=i, rating={"stars": 4}) for i in range(8)]

        match = desk.household_match(
            STORED, caller_phone="+8613900000101", grid={"name_zh": "第一网格"}, requests=requests, item_names=items
        )

        assert match.matched_as == "proxy" and match.name == "马*兰"
        assert match.proxy is not None and match.proxy.phone == "+86139****0101"
        assert "401" not in match.address and match.household == "401"
        assert [r.request_id for r in match.recent_requests] == ["q0", "q1", "q2", "q3", "q4"]
        assert match.recent_requests[0].menu_item.name_zh == "代购米面油"
        assert match.recent_requests[0].rating_stars == 4
        assert match.grid.name_zh == "第一网格"

    def test_the_callers_own_household_comes_first(self) -> None:
        own = {**STORED, "_id": "r-own", "phone": "+8613900000101", "building": "9栋", "proxy": None}
        matches = [
            desk.household_match(r, caller_phone="+8613900000101", grid=None, requests=[], item_names={})
            for r in (STORED, own)
        ]
        assert [m.resident_id for m in desk.ordered(matches)] == ["r-own", "r-1"]

    def test_requests_of_a_known_household_are_not_listed_again_under_the_phone(self) -> None:
        mixed = [request("a", 1, resident_id="r-1"), request("b", 2, resident={"id": "r-1"}), request("c", 3)]
        assert [d["_id"] for d in desk.without_household(mixed)] == ["c"]


class TestSubmittedContract:
    def test_v1_still_needs_a_phone(self) -> None:
        with pytest.raises(ValidationError):
            RequestSubmittedV1(menu_item_code="x", grid_id="g", resident_name="n", resident_id="r-1")  # type: ignore[call-arg]

    def test_v2_carries_a_household_without_a_phone_but_not_nobody(self) -> None:
        phoneless = RequestSubmittedV2(menu_item_code="x", grid_id="g", resident_name="n", resident_id="r-1")
        assert phoneless.resident_phone is None
        with pytest.raises(ValidationError, match="resident_id"):
            RequestSubmittedV2(menu_item_code="x", grid_id="g", resident_name="n")
