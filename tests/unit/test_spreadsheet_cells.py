"""gridctl's CSV export neutralises formulas, and its import reads its own export back unchanged."""

from __future__ import annotations

import pytest

from services.admin import rows
from shared.spreadsheet_cells import neutralise, restore

TRIGGERS = ["=1+1", "+86 138", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")']


@pytest.mark.parametrize("cell", TRIGGERS)
def test_formula_cells_get_a_quote_and_lose_it_on_the_way_back(cell: str) -> None:
    assert neutralise(cell) == "'" + cell
    assert restore(neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["王仁柱", "13800001234", "'quoted by the user", "a=b", ""])
def test_other_cells_are_untouched(cell: str) -> None:
    assert neutralise(cell) == cell == restore(cell)


def test_a_volunteer_row_round_trips_through_csv() -> None:
    row = {"id": "v-1", "name": "=cmd|' /C calc'!A0", "grid_id": "xgll-01", "phone": "+8613800001234", "skills": ["-x"]}
    cells = rows.to_csv("volunteers", row)

    assert cells["name"].startswith("'=") and cells["phone"] == "'+8613800001234"
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in cells.values())
    back = rows.from_csv("volunteers", cells)
    assert back["name"] == row["name"] and back["phone"] == row["phone"]
