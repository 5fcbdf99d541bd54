"""Reference data refuses what cannot be stored or shown safely: dotted attribute codes, control and bidi characters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.reference_models import GridFields, MenuAttribute, VolunteerFields


def test_a_menu_attribute_code_the_database_cannot_store_is_refused_at_definition() -> None:
    assert MenuAttribute(code="medicine_name").code == "medicine_name"
    for code in ("medicine.name", "$where"):
        with pytest.raises(ValidationError):
            MenuAttribute(code=code)


@pytest.mark.parametrize("name", ["李\u202e建国", "grid\x00one", "\x1b[31mred\x1b[0m", "two\nlines"])
def test_names_with_control_or_bidi_override_characters_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        GridFields(community_id="c1", name_zh=name, name_en="Grid")
    with pytest.raises(ValidationError):
        VolunteerFields(grid_id="g1", name=name)
