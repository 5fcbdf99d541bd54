"""Turning a district YAML into documents."""

from __future__ import annotations

from services.admin import reference_data
from services.admin.cli import DEMO_FILE


def test_demo_district_matches_the_walking_skeleton_brief() -> None:
    documents = reference_data._documents(reference_data.read_yaml(DEMO_FILE))

    assert [d["_id"] for d in documents["districts"]] == ["chengzhong"]
    assert len(documents["communities"]) >= 2
    assert len(documents["volunteers"]) == 12
    scoped = [d for name, docs in documents.items() if name != "districts" for d in docs]
    assert all(d["district_id"] == "chengzhong" for d in scoped)


def test_volunteers_inherit_their_grid_community_and_street_office() -> None:
    spec = {
        "district": {"id": "d1"},
        "street_offices": [{"id": "s1"}],
        "communities": [{"id": "c1", "street_office_id": "s1"}],
        "grids": [{"id": "g1", "community_id": "c1"}],
        "volunteers": [{"id": "v1", "grid_id": "g1", "name": "A"}, {"id": "v2", "grid_id": "g1", "active": False}],
        "menu": [{"code": "errand.medicine"}],
    }

    documents = reference_data._documents(spec)

    v1, v2 = documents["volunteers"]
    assert (v1["community_id"], v1["street_office_id"], v1["active"], v1["capacity"]) == ("c1", "s1", True, 3)
    assert v2["active"] is False
    assert documents["menu_items"] == [
        {"_id": "c1:errand.medicine", "district_id": "d1", "community_id": "c1", "code": "errand.medicine"}
    ]
    assert documents["grids"][0]["street_office_id"] == "s1"


def test_a_district_file_becomes_import_rows_parents_first_with_the_menu_in_every_community() -> None:
    spec = reference_data.read_yaml(DEMO_FILE)

    kinds = reference_data.rows_of(spec)

    assert list(kinds) == ["street-offices", "communities", "grids", "volunteers", "teams", "residents", "menu"]
    assert [row["id"] for row in kinds["street-offices"]] == ["renminjie"]
    assert len(kinds["volunteers"]) == 12 and kinds["teams"] == []
    assert len(kinds["menu"]) == 2 * len(spec["menu"])
    assert {(row["community_id"], row["code"]) for row in kinds["menu"]} >= {("renminjie-east", "welfare.check")}
