"""The district board dispatch keeps: recomputed from the live rows, replaced whole, never incremented."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from services.dispatch.read_models.board import ROWS_KEPT, BoardState

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def document(request_id: str, status: str = "offered", *, live: bool = True, **fields: Any) -> dict[str, Any]:
    return {
        "_id": request_id,
        "district_id": "d1",
        "live_district_id": "d1" if live else None,
        "status": status,
        "level": fields.pop("level", "grid"),
        "grid_id": fields.pop("grid_id", "g1"),
        "submitted_at": fields.pop("submitted_at", NOW - timedelta(minutes=5)),
        "sla_due_at": fields.pop("sla_due_at", NOW + timedelta(minutes=30)),
        "resident": {"phone": "+8613800001234"},
        "timeline": [{"type": "request.received"}],
        **fields,
    }


def board_of(state: BoardState) -> dict[str, Any]:
    """The stored document with its JSON payload parsed, as the console reads it."""
    stored = state.document(NOW, epoch=3)
    payload: dict[str, Any] = json.loads(stored.pop("board"))
    return {**stored, **payload}


def test_counts_by_status_and_level_and_load_per_grid_cover_every_live_request() -> None:
    board = BoardState("d1")
    board.apply(
        [
            document("a"),
            document("b", "assigned", grid_id="g2"),
            document("c", "escalated", level="community"),
            document("d", "rated", live=False),
        ]
    )

    stored = board_of(board)

    assert stored["_id"] == "d1" and stored["open"] == 3 and stored["owner_epoch"] == 3
    assert stored["counts"] == [
        {"status": "assigned", "level": "grid", "count": 1},
        {"status": "escalated", "level": "community", "count": 1},
        {"status": "offered", "level": "grid", "count": 1},
    ]
    assert stored["load_per_grid"] == [{"grid_id": "g1", "open": 2}, {"grid_id": "g2", "open": 1}]
    assert "resident" not in stored["requests"][0] and "timeline" not in stored["requests"][0]


def test_a_request_that_closes_leaves_the_board() -> None:
    board = BoardState("d1")
    board.apply([document("a"), document("b")])
    board.apply([document("a", "resolved", live=False)])

    assert [row["request_id"] for row in board_of(board)["requests"]] == ["b"]


def test_applying_the_same_documents_again_changes_nothing() -> None:
    board = BoardState("d1")
    batch = [document("a"), document("b", "assigned")]
    board.apply(batch)
    once = board.document(NOW, 1)
    board.apply(batch)

    assert board.document(NOW, 1) == once


def test_overdue_lists_the_passed_deadlines_oldest_first() -> None:
    board = BoardState("d1")
    board.apply(
        [
            document("late", sla_due_at=NOW - timedelta(minutes=1)),
            document("later", sla_due_at=NOW - timedelta(minutes=9)),
            document("fine"),
            document("no-clock", sla_due_at=None),
        ]
    )

    stored = board_of(board)

    assert [row["request_id"] for row in stored["overdue"]] == ["later", "late"]
    assert stored["overdue_count"] == 2


def test_rows_are_the_newest_and_bounded() -> None:
    board = BoardState("d1")
    board.apply(document(f"r{n:04d}", submitted_at=NOW - timedelta(minutes=n)) for n in range(ROWS_KEPT + 20))

    stored = board_of(board)

    assert len(stored["requests"]) == ROWS_KEPT and stored["open"] == ROWS_KEPT + 20
    assert stored["requests"][0]["request_id"] == "r0000"


def test_volunteer_load_is_the_live_requests_each_holds() -> None:
    board = BoardState("d1")
    board.apply(
        [
            document("a", "assigned", assigned_volunteer_id="v2"),
            document("b", "in_progress", assigned_volunteer_id="v2"),
            document("c", "assigned", assigned_volunteer_id="v1"),
            document("d", "offered", offered_volunteer_ids=["v3"]),
        ]
    )

    assert board_of(board)["volunteer_load"] == [
        {"volunteer_id": "v1", "open_assignments": 1},
        {"volunteer_id": "v2", "open_assignments": 2},
    ]
