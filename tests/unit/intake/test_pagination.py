"""Cursors round-trip and refuse anything we did not issue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake.pagination import InvalidCursor, after_cursor, decode_cursor, encode_cursor


def test_cursor_round_trip_and_filter() -> None:
    moment = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    cursor = encode_cursor(moment, "abc")
    assert decode_cursor(cursor) == (moment, "abc")
    assert after_cursor(cursor) == {
        "$or": [{"submitted_at": {"$lt": moment}}, {"submitted_at": moment, "_id": {"$lt": "abc"}}]
    }


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", "WzEsMl0", "WyIyMDI2LTAxLTAxIiwiYSJd"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
