"""A district's live board, as its owner holds it: the queue by status and level, load per grid and per
volunteer, and the overdue list, in one document the console reads by `_id` (the district id).

Live state only: every request in it waits for or is held by a volunteer, so the owner has all of them in
memory and recomputes the document from there; it REPLACES the stored one by `_id` and never
increments it, so a redelivered batch writes the same board again. Closed requests leave the board
(the rates count them, per day: `rates`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from shared.mongo import Document

BOARD_COLLECTION: Final = "district_boards"
# The queue's rows on the board, newest first; counts, loads and the overdue list cover every live request.
ROWS_KEPT: Final = 300
OVERDUE_KEPT: Final = 300
HOLDING: Final = frozenset({"assigned", "in_progress"})
ROW_FIELDS: Final = (
    "status",
    "level",
    "priority",
    "grid_id",
    "community_id",
    "menu_item_code",
    "assigned_volunteer_id",
    "offered_volunteer_ids",
    "sla_due_at",
    "submitted_at",
)


OVERDUE_FIELDS: Final = ("request_id", "sla_due_at", "status", "level", "grid_id")


def as_text(payload: Any) -> str:
    """A payload as compact JSON text, datetimes in ISO 8601.

    Why text: FerretDB v1 turns a stored document's nested objects back into BSON slowly. Measured on the
    local stack: a board of 300 rows read by `_id` took 73-187 ms as nested documents and 16 ms as one
    string; a day's rates 10.6 ms against 1.5 ms. Readers parse it (`json.loads`).
    """
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def row_of(request: Mapping[str, Any]) -> Document:
    """A request document as the board lists it (no resident, no timeline)."""
    return {"request_id": request["_id"], **{name: request.get(name) for name in ROW_FIELDS}}


@dataclass
class BoardState:
    """The board rows of one district's live requests, kept up to date from the documents the owner writes."""

    district_id: str
    rows: dict[str, Document] = field(default_factory=dict)

    def apply(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """Take written request documents: live ones are (re)listed, closed ones leave."""
        for document in documents:
            if document.get("live_district_id"):
                self.rows[document["_id"]] = row_of(document)
            else:
                self.rows.pop(document["_id"], None)

    def document(self, now: datetime, epoch: int) -> Document:
        rows = list(self.rows.values())
        counts = Counter((row["status"], row["level"]) for row in rows)
        per_grid = Counter(row.get("grid_id") or "unknown" for row in rows)
        overdue = sorted(
            (row for row in rows if isinstance(row.get("sla_due_at"), datetime) and row["sla_due_at"] < now),
            key=lambda row: (row["sla_due_at"], row["request_id"]),
        )
        newest = sorted(rows, key=lambda row: (row.get("submitted_at") or now, row["request_id"]), reverse=True)
        # A volunteer's load is the live requests they hold (assigned or in progress), as the roster counts it;
        # from the rows, so a roster of 100k costs nothing here. Volunteers holding none are left out.
        held = Counter(row.get("assigned_volunteer_id") for row in rows if row["status"] in HOLDING)
        held.pop(None, None)
        loads = [{"volunteer_id": v, "open_assignments": n} for v, n in sorted(held.items())]
        board = {
            "counts": [{"status": s, "level": lv, "count": n} for (s, lv), n in sorted(counts.items())],
            "load_per_grid": [{"grid_id": g, "open": n} for g, n in sorted(per_grid.items())],
            "volunteer_load": loads,
            "overdue": [{name: r.get(name) for name in OVERDUE_FIELDS} for r in overdue[:OVERDUE_KEPT]],
            "overdue_count": len(overdue),
            "requests": newest[:ROWS_KEPT],
        }
        return {
            "_id": self.district_id,
            "district_id": self.district_id,
            "as_of": now,
            "open": len(rows),
            "board": as_text(board),  # counts, load_per_grid, volunteer_load, overdue, overdue_count, requests
            "owner_epoch": epoch,
        }
