"""Turning a district YAML into documents."""

from __future__ import annotations

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from services.intake.reference_models import ResidentFields


def test_demo_district_matches_the_walking_skeleton_brief() -> None:
    spec = reference_data.read_yaml(DEMO_FILE)
    kinds = reference_data.rows_of(spec)

    assert spec["district"]["id"] == "chengzhong"
    assert len(kinds["communities"]) >= 2
    assert len(kinds["volunteers"]) == 12
    assert any(v.get("active") is False for v in kinds["volunteers"])


def test_a_district_file_becomes_import_rows_parents_first_with_the_menu_in_every_community() -> None:
    spec = reference_data.read_yaml(DEMO_FILE)

    kinds = reference_data.rows_of(spec)

    assert list(kinds) == [
        "street-offices", "communities", "grids", "volunteers", "teams", "residents", "menu", "care-plans"
    ]  # fmt: skip
    assert [row["id"] for row in kinds["street-offices"]] == ["renminjie"]
    assert len(kinds["volunteers"]) == 12 and kinds["teams"] == []
    assert len(kinds["menu"]) == 2 * len(spec["menu"])
    assert {(row["community_id"], row["code"]) for row in kinds["menu"]} >= {("renminjie-east", "welfare.check")}


def test_demo_households_are_valid_and_some_have_no_phone() -> None:
    residents = reference_data.rows_of(reference_data.read_yaml(DEMO_FILE))["residents"]

    fields = [ResidentFields.model_validate({k: v for k, v in row.items() if k != "id"}) for row in residents]

    assert any(f.phone is None and f.proxy is not None for f in fields)
    assert all(f.proxy is None or f.proxy.phone.startswith("+86") for f in fields)
