"""gridctl rows: CSV cells ↔ the reference models, and back, without loss."""

from __future__ import annotations

import pytest

from services.admin import rows
from services.intake.reference_models import MenuItemFields, VolunteerFields


def test_a_volunteer_csv_row_becomes_model_values() -> None:
    values = rows.from_csv(
        "volunteers",
        {"id": "v-1", "grid_id": "g1", "name": "张玉梅", "skills": "errand; paperwork", "capacity": "4",
         "availability": "0 08:00-12:00;5 09:00-18:00", "lat": "36.62", "lon": "101.77", "phone": "",
         "active": "false"},
    )  # fmt: skip
    assert values["skills"] == ["errand", "paperwork"]
    assert values["availability"][1] == {"weekday": 5, "start": "09:00", "end": "18:00"}
    assert "phone" not in values
    volunteer = VolunteerFields.model_validate({k: v for k, v in values.items() if k != "id"})
    assert (volunteer.capacity, volunteer.active, volunteer.location) == (4, False, volunteer.location)
    assert volunteer.location is not None and volunteer.location.lat == pytest.approx(36.62)


def test_menu_attributes_travel_as_json() -> None:
    values = rows.from_csv(
        "menu",
        {"community_id": "c1", "code": "errand.medicine", "name_zh": "代购药品", "name_en": "Medicine",
         "category": "errand", "attributes": '[{"code": "pharmacy", "required": true}]',
         "deadlines": '{"grid": {"accept_minutes": 30, "resolve_minutes": 180}}'},
    )  # fmt: skip
    item = MenuItemFields.model_validate({k: v for k, v in values.items() if k not in ("community_id", "code")})
    assert item.attributes[0].required is True
    assert item.deadlines["grid"].resolve_minutes == 180


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "v", "availability": "Monday morning"}, "availability"),
        ({"id": "m", "attributes": "[not json"}, "attributes"),
        ({"id": "v", "leave": "2026-12-01 to 2026-12-03"}, "leave"),
        ({"id": "v", None: "extra"}, "more cells"),
    ],
)
def test_malformed_cells_are_named(row: dict[str | None, str], message: str) -> None:
    kind = "menu" if "attributes" in row else "volunteers"
    with pytest.raises(rows.RowError, match=message):
        rows.from_csv(kind, row)


def test_export_then_import_round_trips() -> None:
    document = {
        "_id": "v-1", "district_id": "d", "grid_id": "g1", "community_id": "c1", "name": "李", "kind": "grid_leader",
        "skills": ["repair"], "languages": ["zh", "hui"], "capacity": 2, "active": True, "phone": "+8613800001234",
        "availability": [{"weekday": 1, "start": "08:00", "end": "09:00"}], "location": {"lat": 1.5, "lon": 2.5},
        "open_assignments": 3, "leave": [{"start": "2026-12-01", "end": "2026-12-03"}],
    }  # fmt: skip
    row = rows.to_row("volunteers", document)
    assert "open_assignments" not in row and "community_id" not in row and row["id"] == "v-1"
    back = rows.from_csv("volunteers", rows.to_csv("volunteers", row))
    restored = VolunteerFields.model_validate({k: v for k, v in back.items() if k != "id"})
    assert restored.model_dump(mode="json") == VolunteerFields.model_validate(
        {k: v for k, v in row.items() if k != "id"}
    ).model_dump(mode="json")
    assert set(rows.csv_columns("volunteers")) >= set(rows.to_csv("volunteers", row))
