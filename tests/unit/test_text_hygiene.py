"""Control characters, bidi overrides and terminal escapes are refused in free text; ordinary writing is not."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from services.intake.attributes import validate_answers
from shared.text_hygiene import MultiLineText, SingleLineText

HOSTILE = [
    "a\x00b",
    "\u202egnp.exe",
    "\x1b[31mred\x1b[0m",
    "x\u2066y",
    "bell\x07",
    "del\x7f",
    "c1\x85",
    "\ud800",
    "a\u2028b",
]
ORDINARY = ["王仁柱", "Zoë O'Brien-Smith", "👩‍👩‍👧 family", "مرحبا", "שלום", "price: ¥12.50 (approx.)", "क्षत्रिय"]


class Sample(BaseModel):
    name: SingleLineText
    text: MultiLineText = ""


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_is_refused_in_both_kinds(value: str) -> None:
    with pytest.raises(ValidationError):
        Sample(name=value)
    with pytest.raises(ValidationError):
        Sample(name="ok", text=value)


@pytest.mark.parametrize("value", ORDINARY)
def test_ordinary_writing_passes(value: str) -> None:
    assert Sample(name=value, text=value + "\nline two\twith a tab").name == value


def test_line_breaks_only_in_multi_line_text() -> None:
    with pytest.raises(ValidationError):
        Sample(name="two\nlines")
    assert Sample(name="one", text="two\r\nlines").text == "two\r\nlines"


def test_answers_are_checked_for_hygiene_size_and_storable_codes() -> None:
    definitions = [
        {"code": "note", "datatype": "string"},
        {"code": "count", "datatype": "number"},
        {"code": "dose.mg", "datatype": "number"},  # stored before codes were checked
    ]
    clean, errors = validate_answers(definitions, {"note": "\u202eevil", "count": "1" * 30, "dose.mg": 5})
    assert clean == {}
    assert {e.code for e in errors} == {"note", "count", "dose.mg"}
    clean, errors = validate_answers(definitions, {"note": "两盒", "count": 3})
    assert clean == {"note": "两盒", "count": 3} and not errors
