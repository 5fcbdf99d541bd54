"""The record of service as readers see it: a month's totals and the party-branch CSV, pure.

Dispatch keeps one document per volunteer per month and per grid per month (services/dispatch/
service_record.py), each a map of pieces of work; the totals are summed here, over tens to hundreds of
entries, so the stored documents never hold counters that a redelivered event could double.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from shared.mongo import Document
from shared.spreadsheet_cells import neutralise_row

MONTH_PATTERN: Final = r"^\d{4}-(0[1-9]|1[0-2])$"
CSV_COLUMNS: Final = (
    "month", "volunteer_id", "name", "kind", "grid_id", "community_id",
    "tasks", "hours", "ratings", "average_stars",
)  # fmt: skip


def valid_month(month: str) -> bool:
    return re.fullmatch(MONTH_PATTERN, month) is not None


def volunteer_record_id(volunteer_id: str, month: str) -> str:
    return f"volunteer:{volunteer_id}:{month}"


def grid_record_id(district_id: str, grid_id: str, month: str) -> str:
    return f"grid:{district_id}:{grid_id}:{month}"


def entries(document: Document | None) -> list[Document]:
    tasks: Mapping[str, Document] = (document or {}).get("tasks") or {}
    return sorted(tasks.values(), key=lambda e: str(e.get("resolved_at") or ""))


def totals(tasks: Iterable[Document]) -> Document:
    """Tasks done, hours, ratings received and their average."""
    done = list(tasks)
    rated = [int(e["stars"]) for e in done if e.get("stars") is not None]
    minutes = sum(int(e.get("minutes") or 0) for e in done)
    return {
        "tasks": len(done),
        "minutes": minutes,
        "hours": round(minutes / 60, 2),
        "ratings": len(rated),
        "average_stars": round(sum(rated) / len(rated), 2) if rated else None,
    }


def by_volunteer(tasks: Iterable[Document]) -> dict[str, list[Document]]:
    grouped: dict[str, list[Document]] = {}
    for entry in tasks:
        grouped.setdefault(str(entry.get("volunteer_id")), []).append(entry)
    return grouped


def _when(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def entry_view(entry: Document, item: Document | None = None) -> Document:
    """One piece of work for the volunteer's record; `item` (the menu item) gives its name."""
    return {
        "request_id": entry.get("request_id"),
        "cycle": entry.get("cycle"),
        "menu_item_code": entry.get("menu_item_code"),
        "menu_item_name_zh": (item or {}).get("name_zh"),
        "menu_item_name_en": (item or {}).get("name_en"),
        "started_at": _when(entry.get("started_at")),
        "resolved_at": _when(entry.get("resolved_at")),
        "measured_minutes": entry.get("measured_minutes"),
        "minutes": entry.get("minutes"),
        "edited": bool(entry.get("edited")),
        "stars": entry.get("stars"),
    }


def csv_text(month: str, tasks: Iterable[Document], volunteers: Mapping[str, Document]) -> str:
    """One row per volunteer with their month's totals (the party-branch report); UTF-8 with a BOM for Excel."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for volunteer_id, done in sorted(by_volunteer(tasks).items()):
        profile = volunteers.get(volunteer_id) or {}
        summed = totals(done)
        row: dict[str, object] = {
            "month": month,
            "volunteer_id": volunteer_id,
            "name": profile.get("name") or "",
            "kind": profile.get("kind") or "",
            "grid_id": profile.get("grid_id") or done[0].get("grid_id") or "",
            "community_id": profile.get("community_id") or done[0].get("community_id") or "",
            "tasks": summed["tasks"],
            "hours": summed["hours"],
            "ratings": summed["ratings"],
            "average_stars": "" if summed["average_stars"] is None else summed["average_stars"],
        }
        writer.writerow(neutralise_row(row))
    return "\ufeff" + out.getvalue()
