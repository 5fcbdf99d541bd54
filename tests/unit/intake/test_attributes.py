"""Answers to a menu item's questions: required, typed, and nothing unknown."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.attributes import validate_answers

QUESTIONS: list[dict[str, Any]] = [
    {"code": "pharmacy", "datatype": "string", "required": True},
    {"code": "boxes", "datatype": "number", "required": False},
    {"code": "when", "datatype": "datetime", "required": False},
    {
        "code": "floor",
        "datatype": "singlevaluelist",
        "values": [{"key": "1", "name": "1F"}, {"key": "2", "name": "2F"}],
    },
    {
        "code": "extras",
        "datatype": "multivaluelist",
        "values": [{"key": "oil", "name": "油"}, {"key": "rice", "name": "米"}],
    },
]


def test_valid_answers_are_typed() -> None:
    clean, errors = validate_answers(
        QUESTIONS,
        {
            "pharmacy": "同仁堂",
            "boxes": "2",
            "when": "2026-05-01T09:00:00+08:00",
            "floor": 2,
            "extras": ["rice", "oil"],
        },
    )
    assert errors == []
    assert clean == {
        "pharmacy": "同仁堂",
        "boxes": 2,
        "when": "2026-05-01T09:00:00+08:00",
        "floor": "2",
        "extras": ["oil", "rice"],
    }


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ({}, "pharmacy"),
        ({"pharmacy": ""}, "pharmacy"),
        ({"pharmacy": 3}, "pharmacy"),
        ({"pharmacy": "x", "boxes": "many"}, "boxes"),
        ({"pharmacy": "x", "boxes": True}, "boxes"),
        ({"pharmacy": "x", "boxes": "nan"}, "boxes"),
        ({"pharmacy": "x", "when": "tomorrow"}, "when"),
        ({"pharmacy": "x", "floor": "9"}, "floor"),
        ({"pharmacy": "x", "extras": ["caviar"]}, "extras"),
        ({"pharmacy": "x", "extras": {"oil": 1}}, "extras"),
        ({"pharmacy": "x", "colour": "red"}, "colour"),
    ],
)
def test_each_wrong_answer_names_its_question(answers: dict[str, Any], code: str) -> None:
    _, errors = validate_answers(QUESTIONS, answers)
    assert [e.code for e in errors] == [code]
    assert errors[0].message
