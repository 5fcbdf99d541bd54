"""Turning a district YAML into documents."""

from __future__ import annotations

from services.admin import reference_data
from services.admin.cli import DEMO_FILE


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
